// Tests for src/api/expiry_metrics.cpp and certificate_not_after() in src/common/keys.cpp:
// the certificate and provider-token expiry families of /metrics.
#include "api/expiry_metrics.hpp"

#include <doctest/doctest.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/keys.hpp"
#include "support/h2_server.hpp"

using namespace pushgate;

namespace {
bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}
}  // namespace

TEST_CASE("certificate_not_after is the notAfter written into a generated certificate") {
  char tmpl[] = "/tmp/pushgate-expiry-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::int64_t before = test::certificate_clock_now();
  test::write_cert_pair(dir + "/c.pem", dir + "/c.key", 30 * 86400);
  std::int64_t after = test::certificate_clock_now();
  std::FILE* f = std::fopen((dir + "/c.pem").c_str(), "r");
  REQUIRE(f != nullptr);
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  REQUIRE(cert != nullptr);
  std::int64_t not_after = certificate_not_after(cert);
  CHECK(not_after >= before + 30 * 86400);
  CHECK(not_after <= after + 30 * 86400);
  // It agrees with the seconds-left the certificate check computes.
  std::int64_t checked_from = test::certificate_clock_now();
  long left = check_certificate_pair(dir + "/c.pem", dir + "/c.key");
  std::int64_t checked_until = test::certificate_clock_now();
  CHECK(left >= not_after - checked_until - 1);  // whole seconds either side
  CHECK(left <= not_after - checked_from + 1);
  X509_free(cert);
  CHECK(certificate_not_after(nullptr) == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("certificate expiry: one sample per certificate with a notAfter, no family without one") {
  metrics::Writer w;
  api::write_certificate_expiry(w, {{"http", 1798761600}, {"legacy_tls", 1801353600}});
  CHECK(has(w.text(), "# TYPE pushgate_certificate_expiry_timestamp_seconds gauge\n"));
  CHECK(has(w.text(), "pushgate_certificate_expiry_timestamp_seconds{use=\"http\"} 1798761600\n"));
  CHECK(has(w.text(), "pushgate_certificate_expiry_timestamp_seconds{use=\"legacy_tls\"} 1801353600\n"));
  metrics::Writer plain;  // plain HTTP and no legacy listener: nothing, not a sample of 0
  api::write_certificate_expiry(plain, {{"http", 0}});
  CHECK(plain.text().empty());
}

TEST_CASE("provider tokens: a failure counter for every app, an expiry only for apps that hold a token") {
  metrics::Writer w;
  api::write_provider_tokens(
      w, {{"ios", "apns", 1795323600, 0}, {"idle", "apns", 0, 0}, {"android", "fcm", 1795323599, 3}});
  const std::string& t = w.text();
  CHECK(has(t, "# TYPE pushgate_provider_token_failures_total counter\n"));
  CHECK(has(t, "pushgate_provider_token_failures_total{app=\"ios\",service=\"apns\"} 0\n"));
  CHECK(has(t, "pushgate_provider_token_failures_total{app=\"idle\",service=\"apns\"} 0\n"));
  CHECK(has(t, "pushgate_provider_token_failures_total{app=\"android\",service=\"fcm\"} 3\n"));
  CHECK(has(t, "# TYPE pushgate_provider_token_expiry_timestamp_seconds gauge\n"));
  CHECK(has(t, "pushgate_provider_token_expiry_timestamp_seconds{app=\"ios\",service=\"apns\"} 1795323600\n"));
  CHECK(has(t, "pushgate_provider_token_expiry_timestamp_seconds{app=\"android\",service=\"fcm\"} 1795323599\n"));
  // An app that never needed a token has no expiry series: an alert cannot take it for expired.
  CHECK_FALSE(has(t, "pushgate_provider_token_expiry_timestamp_seconds{app=\"idle\""));
}
