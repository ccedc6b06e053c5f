// Tests for src/push/fcm_credentials.cpp and src/push/fcm_oauth.cpp: the service-account
// checks, the RS256 assertion (claims and signature verified with OpenSSL), the token answer.
#include "push/fcm_oauth.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/test_keys.hpp"

using namespace pushgate;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
struct Account {
  std::string path = test::write_service_account("https://oauth2.example.test/token");
  ~Account() {
    std::remove(path.c_str());
    std::remove((path + ".pub.pem").c_str());
  }
  std::string json() const { return slurp(path); }
};
std::string error_of(const std::string& json) {
  try {
    parse_fcm_service_account(json, "sa.json");
  } catch (const KeyError& e) {
    return e.what();
  }
  return "";
}
// Verifies an RS256 JWS with a PEM public key.
bool verify_rs256(const std::string& pub_pem_path, const std::string& jwt) {
  std::FILE* f = std::fopen(pub_pem_path.c_str(), "r");
  EVP_PKEY* pub = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  auto dot2 = jwt.rfind('.');
  std::string input = jwt.substr(0, dot2), sig = test::base64url_decode(jwt.substr(dot2 + 1));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pub) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pub);
  return ok;
}
}  // namespace

TEST_CASE("a service account loads: project, client email, key id, token URI, an RSA key") {
  Account a;
  FcmServiceAccount sa = load_fcm_service_account(a.path);
  CHECK(sa.project_id == "demo-project");
  CHECK(sa.client_email == "pushgate@demo-project.iam.gserviceaccount.com");
  CHECK(sa.private_key_id == "k1");
  CHECK(sa.token_uri == "https://oauth2.example.test/token");
  CHECK(EVP_PKEY_get_base_id(sa.key.get()) == EVP_PKEY_RSA);
}

TEST_CASE("a malformed service account names the field that is wrong") {
  Account a;
  auto good = nlohmann::json::parse(a.json());
  CHECK(error_of("not json").find("not a JSON object") != std::string::npos);
  for (const char* field : {"project_id", "client_email", "private_key", "token_uri", "type"}) {
    CAPTURE(field);
    auto j = good;
    j.erase(field);
    CHECK(error_of(j.dump()).find(std::string("\"") + field + "\" is missing") != std::string::npos);
    j[field] = 42;
    CHECK(error_of(j.dump()).find(std::string("\"") + field + "\" must be a non-empty string") != std::string::npos);
  }
  auto j = good;
  j["type"] = "authorized_user";
  CHECK(error_of(j.dump()).find("not a service-account key") != std::string::npos);
  j = good;
  j["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  CHECK(error_of(j.dump()).find("\"private_key\" is not a PEM private key") != std::string::npos);
  j = good;
  j["token_uri"] = "http://oauth2.googleapis.com/token";
  CHECK(error_of(j.dump()).find("https://") != std::string::npos);
  j = good;
  j["client_email"] = "nobody";
  CHECK(error_of(j.dump()).find("client_email") != std::string::npos);
}

TEST_CASE("the RS256 assertion carries iss, scope, aud, iat, exp = iat + 3600 and verifies") {
  Account a;
  FcmServiceAccount sa = load_fcm_service_account(a.path);
  std::string jwt = make_fcm_assertion(sa, 1795320000).value();
  auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
  auto header = nlohmann::json::parse(test::base64url_decode(jwt.substr(0, d1)));
  auto claims = nlohmann::json::parse(test::base64url_decode(jwt.substr(d1 + 1, d2 - d1 - 1)));
  CHECK(header == nlohmann::json{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "k1"}});
  CHECK(claims == nlohmann::json{{"iss", "pushgate@demo-project.iam.gserviceaccount.com"},
                                 {"scope", "https://www.googleapis.com/auth/firebase.messaging"},
                                 {"aud", "https://oauth2.example.test/token"},
                                 {"iat", 1795320000},
                                 {"exp", 1795323600}});
  CHECK(verify_rs256(a.path + ".pub.pem", jwt));
  std::string tampered = jwt;
  tampered[d1 + 3] = tampered[d1 + 3] == 'A' ? 'B' : 'A';
  CHECK_FALSE(verify_rs256(a.path + ".pub.pem", tampered));
}

TEST_CASE("the token endpoint's answer: a token, a refusal of the credentials, or an outage") {
  auto ok = parse_fcm_token_response(200, R"({"access_token":"ya29.abc","expires_in":3599,"token_type":"Bearer"})");
  CHECK(ok.token == "ya29.abc");
  CHECK(ok.expires_in == 3599);
  auto grant = parse_fcm_token_response(400, R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})");
  CHECK(grant.token.empty());
  CHECK(grant.operator_error);
  CHECK(grant.error.find("invalid_grant: Invalid JWT Signature.") != std::string::npos);
  auto down = parse_fcm_token_response(503, "");
  CHECK_FALSE(down.operator_error);
  CHECK(down.token.empty());
  auto odd = parse_fcm_token_response(200, R"({"access_token":""})");
  CHECK(odd.token.empty());
  CHECK_FALSE(odd.error.empty());
}
