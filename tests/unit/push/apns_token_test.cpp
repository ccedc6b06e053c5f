// Tests for src/push/apns_token.cpp and src/common/keys.cpp: the ES256 provider token.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <openssl/rsa.h>

#include "push/apns_token.hpp"
#include "support/test_keys.hpp"

using namespace pushgate;

TEST_CASE("the provider token is an ES256 JWT with kid, iss and iat that OpenSSL verifies") {
  auto key = test::new_p256_key();
  std::string jwt = ApnsTokenSigner::sign(key.get(), "ABC123DEF4", "9ABCDE1234", 1795320000).value();
  auto dot1 = jwt.find('.'), dot2 = jwt.rfind('.');
  REQUIRE(dot1 != std::string::npos);
  REQUIRE(dot2 != dot1);
  auto header = nlohmann::json::parse(test::base64url_decode(jwt.substr(0, dot1)));
  auto claims = nlohmann::json::parse(test::base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1)));
  CHECK(header == nlohmann::json{{"alg", "ES256"}, {"kid", "ABC123DEF4"}});
  CHECK(claims == nlohmann::json{{"iss", "9ABCDE1234"}, {"iat", 1795320000}});
  CHECK(jwt.find('=') == std::string::npos);  // base64url without padding
  CHECK(test::verify_es256(key.get(), jwt));
  auto other = test::new_p256_key();
  CHECK_FALSE(test::verify_es256(other.get(), jwt));  // the check can fail
  std::string tampered = jwt;
  tampered[dot1 + 2] = tampered[dot1 + 2] == 'A' ? 'B' : 'A';
  CHECK_FALSE(test::verify_es256(key.get(), tampered));
}

TEST_CASE("one token serves until it is 50 minutes old") {
  auto key = test::new_p256_key();
  ApnsTokenSigner signer(test::new_p256_key(), "ABC123DEF4", "9ABCDE1234");
  const std::int64_t t0 = 1795320000;
  std::string first = signer.token(t0).value();
  CHECK(signer.token(t0 + 49 * 60).value() == first);
  CHECK(signer.mints() == 1);
  std::string second = signer.token(t0 + 50 * 60).value();
  CHECK(second != first);
  CHECK(signer.mints() == 2);
  CHECK(signer.issued_at() == t0 + 50 * 60);
}

TEST_CASE("the token's expiry: none before the first, issued_at + 60 min after, moved on by the next mint") {
  ApnsTokenSigner signer(test::new_p256_key(), "ABC123DEF4", "9ABCDE1234");
  const std::int64_t t0 = 1795320000;
  CHECK(signer.expires_at() == 0);  // an app without pushes has no token and no expiry
  REQUIRE(signer.token(t0).ok());
  CHECK(signer.expires_at() == t0 + 3600);
  REQUIRE(signer.token(t0 + 49 * 60).ok());
  CHECK(signer.expires_at() == t0 + 3600);  // the same token
  REQUIRE(signer.token(t0 + 50 * 60).ok());
  CHECK(signer.expires_at() == t0 + 50 * 60 + 3600);
}

TEST_CASE("ExpiredProviderToken re-mints only a token at least 20 minutes old") {
  ApnsTokenSigner signer(test::new_p256_key(), "ABC123DEF4", "9ABCDE1234");
  const std::int64_t t0 = 1795320000;
  std::string first = signer.token(t0).value();
  CHECK_FALSE(signer.expired(t0 + 19 * 60));  // Apple would answer TooManyProviderTokenUpdates
  CHECK(signer.token(t0 + 19 * 60).value() == first);
  CHECK(signer.expired(t0 + 20 * 60));
  CHECK(signer.token(t0 + 20 * 60).value() != first);
  CHECK(signer.mints() == 2);
}

TEST_CASE("a .p8 key must be P-256, not world-readable, and PEM") {
  auto key = test::new_p256_key();
  std::string good = test::write_p8(key.get());
  CHECK(load_apns_p8_key(good) != nullptr);
  std::string loose = test::write_p8(key.get(), 0644);
  CHECK_THROWS_WITH_AS(load_apns_p8_key(loose), doctest::Contains("readable by every user"), KeyError);
  EvpKeyPtr rsa(EVP_RSA_gen(2048));
  std::string rsa_path = test::write_p8(rsa.get());
  CHECK_THROWS_WITH_AS(load_apns_p8_key(rsa_path), doctest::Contains("not an EC P-256 key"), KeyError);
  CHECK_THROWS_WITH_AS(load_apns_p8_key("/nonexistent/AuthKey.p8"), doctest::Contains("cannot be read"), KeyError);
  for (const auto& p : {good, loose, rsa_path}) unlink(p.c_str());
}

TEST_CASE("base64url has no padding and uses - and _") {
  const unsigned char bytes[] = {0xfb, 0xff, 0xfe};
  CHECK(base64url(bytes, 3) == "-__-");
  CHECK(base64url(std::string("a")) == "YQ");
  CHECK(base64url(std::string("ab")) == "YWI");
  CHECK(base64url(std::string("")).empty());
}

TEST_CASE("a key that cannot make an ES256 signature is an Error with a fix, and the signer keeps no token") {
  EvpKeyPtr rsa(EVP_RSA_gen(2048));
  REQUIRE(rsa);
  auto r = ApnsTokenSigner::sign(rsa.get(), "ABC123DEF4", "9ABCDE1234", 1795320000);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().cause.rfind("signing the APNs provider token failed", 0) == 0);
  CHECK(r.error().fix.find("key_file") != std::string::npos);
  ApnsTokenSigner signer(std::move(rsa), "ABC123DEF4", "9ABCDE1234");
  CHECK_FALSE(signer.token(1795320000).ok());
  CHECK(signer.mints() == 0);
  CHECK(signer.expires_at() == 0);
}
