// A fast stand-in for APNs or FCM in the benchmarks: HTTP/2 over TLS (tests/support/h2_server)
// with the checks of the Node mocks on every request.
//  - apns: ES256 provider token (verified once per distinct token, as Apple caches them), path
//    and device token, push type and topic, priority, expiration, payload size and JSON.
//  - fcm: /token verifies the RS256 assertion (signature, iss, scope, aud, lifetime) and issues
//    an access token; messages:send checks the bearer token, the project and the message
//    shape (token, string-only data, android priority and ttl).
// The Node mocks stay the tests' checkers (with their control planes); they top out near
// 18,000 requests/s on this machine, below the target the benchmarks have to show.
//
// Usage: provider_bench_server --service apns --cert PEM --key PEM --pubkey PEM --team ID --key-id ID --topic T
//        provider_bench_server --service fcm --cert PEM --key PEM --pubkey PEM --project ID --client-email E
// Prints "READY <port>", serves until SIGTERM/SIGINT, then prints its counters as JSON.
#include <csignal>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include "support/h2_server.hpp"
#include "support/test_keys.hpp"

using namespace pushgate::test;

namespace {

H2Server* g_server = nullptr;
void on_signal(int) {
  if (g_server != nullptr) g_server->stop();
}

struct FcmChecker {
  EVP_PKEY* pubkey = nullptr;
  std::string project, client_email, audience;
  std::unordered_map<std::string, long> access_tokens;  // token → expiry
  std::map<std::string, long> rejected;
  long delivered = 0, tokens_issued = 0;

  bool verify_rs256(const std::string& jwt) const {
    auto dot2 = jwt.rfind('.');
    std::string input = jwt.substr(0, dot2), sig = base64url_decode(jwt.substr(dot2 + 1));
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pubkey) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                               reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
  }

  H2ServerAnswer token(const H2ServerRequest& r) {
    H2ServerAnswer a;
    a.status = 400;
    auto fail = [&](const char* why) {
      ++rejected[why];
      a.body = std::string("{\"error\":\"") + why + "\"}";
      return a;
    };
    const std::string prefix = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
    if (r.body.rfind(prefix, 0) != 0) return fail("unsupported_grant_type");
    std::string jwt = r.body.substr(prefix.size());
    auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
    if (d1 == std::string::npos || d1 == d2 || !verify_rs256(jwt)) return fail("invalid_grant");
    auto claims = nlohmann::json::parse(base64url_decode(jwt.substr(d1 + 1, d2 - d1 - 1)), nullptr, false);
    long now = static_cast<long>(std::time(nullptr));
    if (!claims.is_object() || claims.value("iss", "") != client_email ||
        claims.value("scope", "") != "https://www.googleapis.com/auth/firebase.messaging" ||
        claims.value("aud", "") != audience || !claims["iat"].is_number_integer() || !claims["exp"].is_number_integer() ||
        claims["exp"].get<long>() - claims["iat"].get<long>() > 3600 || claims["iat"].get<long>() > now + 60) {
      return fail("invalid_grant");
    }
    std::string t = "ya29.bench-" + std::to_string(++tokens_issued);
    access_tokens[t] = now + 3600;
    a.status = 200;
    a.body = "{\"access_token\":\"" + t + "\",\"expires_in\":3600,\"token_type\":\"Bearer\"}";
    return a;
  }

  H2ServerAnswer send(const H2ServerRequest& r) {
    H2ServerAnswer a;
    auto fail = [&](int status, const char* why) {
      ++rejected[why];
      a.status = status;
      a.body = std::string("{\"error\":{\"status\":\"") + why + "\"}}";
      return a;
    };
    auto auth = r.headers.find("authorization");
    if (auth == r.headers.end() || auth->second.rfind("Bearer ", 0) != 0) return fail(401, "UNAUTHENTICATED");
    auto t = access_tokens.find(auth->second.substr(7));
    if (t == access_tokens.end() || t->second < static_cast<long>(std::time(nullptr))) return fail(401, "UNAUTHENTICATED");
    if (r.headers.at(":path") != "/v1/projects/" + project + "/messages:send") return fail(404, "NOT_FOUND");
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j["message"].is_object()) return fail(400, "INVALID_ARGUMENT");
    const auto& m = j["message"];
    if (!m["token"].is_string() || m.contains("notification") || !m["data"].is_object()) return fail(400, "INVALID_ARGUMENT");
    for (const auto& [k, v] : m["data"].items()) {
      if (!v.is_string()) return fail(400, "INVALID_ARGUMENT");
    }
    const auto& android = m["android"];
    if (!android.is_object() || (android.value("priority", "") != "HIGH" && android.value("priority", "") != "NORMAL") ||
        !android["ttl"].is_string() || android["ttl"].get<std::string>().back() != 's') {
      return fail(400, "INVALID_ARGUMENT");
    }
    ++delivered;
    a.body = "{\"name\":\"projects/" + project + "/messages/0:1\"}";
    return a;
  }
};

struct Checker {
  EVP_PKEY* pubkey = nullptr;
  std::string team, key_id, topic;
  std::unordered_map<std::string, long> verified;  // jwt → iat
  std::map<std::string, long> rejected;
  long delivered = 0;

  // Returns "" when Apple would accept the request, else its reason.
  std::string check(const H2ServerRequest& r, int& status) {
    auto h = [&](const char* k) -> const std::string* {
      auto it = r.headers.find(k);
      return it == r.headers.end() ? nullptr : &it->second;
    };
    status = 400;
    if (*h(":method") != "POST") return status = 405, "MethodNotAllowed";
    const std::string& path = *h(":path");
    if (path.rfind("/3/device/", 0) != 0) return status = 404, "BadPath";
    std::string token = path.substr(10);
    if (token.size() < 64 || token.size() % 2 != 0 ||
        token.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return "BadDeviceToken";
    }
    const std::string* auth = h("authorization");
    if (auth == nullptr || auth->rfind("bearer ", 0) != 0) return status = 403, "MissingProviderToken";
    std::string jwt = auth->substr(7);
    long now = static_cast<long>(std::time(nullptr));
    auto it = verified.find(jwt);
    if (it == verified.end()) {
      auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
      if (d1 == std::string::npos || d1 == d2 || !verify_es256(pubkey, jwt)) return status = 403, "InvalidProviderToken";
      auto header = nlohmann::json::parse(base64url_decode(jwt.substr(0, d1)), nullptr, false);
      auto claims = nlohmann::json::parse(base64url_decode(jwt.substr(d1 + 1, d2 - d1 - 1)), nullptr, false);
      if (!header.is_object() || !claims.is_object() || header.value("alg", "") != "ES256" ||
          header.value("kid", "") != key_id || claims.value("iss", "") != team || !claims["iat"].is_number_integer()) {
        return status = 403, "InvalidProviderToken";
      }
      it = verified.emplace(jwt, claims["iat"].get<long>()).first;
    }
    if (it->second > now + 60) return status = 403, "InvalidProviderToken";
    if (now - it->second > 3600) return status = 403, "ExpiredProviderToken";
    const std::string* type = h("apns-push-type");
    if (type == nullptr || (*type != "alert" && *type != "background" && *type != "voip")) return "InvalidPushType";
    const std::string* t = h("apns-topic");
    if (t == nullptr) return "MissingTopic";
    if (*t != topic && *t != topic + ".voip") return "TopicDisallowed";
    if ((*type == "voip") != (*t == topic + ".voip")) return "BadTopic";
    const std::string* prio = h("apns-priority");
    if (prio != nullptr && *prio != "1" && *prio != "5" && *prio != "10") return "BadPriority";
    if (*type == "background" && (prio == nullptr || *prio != "5")) return "BadPriority";
    const std::string* exp = h("apns-expiration");
    if (exp != nullptr && (exp->empty() || exp->find_first_not_of("0123456789") != std::string::npos)) {
      return "BadExpirationDate";
    }
    if (exp != nullptr && *exp != "0" && std::stol(*exp) < now - 5) return "BadExpirationDate";
    if (r.body.empty()) return "PayloadEmpty";
    if (r.body.size() > (*type == "voip" ? 5120u : 4096u)) return status = 413, "PayloadTooLarge";
    if (!nlohmann::json::accept(r.body) || r.body[0] != '{') return "BadPayload";
    return "";
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  bool fcm = args["--service"] == "fcm";
  std::vector<const char*> required = {"--cert", "--key", "--pubkey"};
  for (const char* k : fcm ? std::vector<const char*>{"--project", "--client-email"}
                           : std::vector<const char*>{"--team", "--key-id", "--topic"}) {
    required.push_back(k);
  }
  for (const char* k : required) {
    if (!args.count(k)) {
      std::fprintf(stderr, "provider_bench_server: missing %s\n", k);
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  FILE* f = std::fopen(args["--pubkey"].c_str(), "r");
  EVP_PKEY* pubkey = f != nullptr ? PEM_read_PUBKEY(f, nullptr, nullptr, nullptr) : nullptr;
  if (pubkey == nullptr) {
    std::fprintf(stderr, "provider_bench_server: cannot read the public key %s\n", args["--pubkey"].c_str());
    return 2;
  }
  std::fclose(f);
  Checker apns;
  apns.pubkey = pubkey;
  apns.team = args["--team"];
  apns.key_id = args["--key-id"];
  apns.topic = args["--topic"];
  FcmChecker google;
  google.pubkey = pubkey;
  google.project = args["--project"];
  google.client_email = args["--client-email"];
  H2ServerOptions options;
  options.cert_file = args["--cert"];
  options.key_file = args["--key"];
  H2Server server(options, [&](const H2ServerRequest& r) {
    if (fcm) return r.headers.at(":path") == "/token" ? google.token(r) : google.send(r);
    H2ServerAnswer a;
    std::string reason = apns.check(r, a.status);
    a.headers = {{"apns-id", "00000000-0000-0000-0000-000000000000"}};
    if (reason.empty()) {
      a.status = 200;
      ++apns.delivered;
    } else {
      ++apns.rejected[reason];
      a.body = "{\"reason\":\"" + reason + "\"}";
    }
    return a;
  });
  google.audience = "https://127.0.0.1:" + std::to_string(server.port()) + "/token";
  g_server = &server;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::printf("READY %d\n", server.port());
  std::fflush(stdout);
  server.run();
  nlohmann::json stats = {{"requests", server.requests()}, {"connections", server.connections()}};
  if (fcm) {
    stats["delivered"] = google.delivered;
    stats["rejected"] = google.rejected;
    stats["tokens_issued"] = google.tokens_issued;
  } else {
    stats["delivered"] = apns.delivered;
    stats["rejected"] = apns.rejected;
    stats["jwt_distinct"] = apns.verified.size();
  }
  std::printf("%s\n", stats.dump().c_str());
  return 0;
}
