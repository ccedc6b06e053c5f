// The expiry families of /metrics: when each certificate pushgate presents and each app's
// provider token stop being valid, and how often a push found no usable provider token. Pure
// writers over plain values, shared by the HTTP API's /metrics and the legacy listener's own.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/metrics.hpp"

namespace pushgate::api {

// A certificate pushgate presents to its clients: `use` is "http" ([http] tls_cert) or
// "legacy_tls" ([legacy_tls] cert_file); `not_after` in epoch seconds, 0 when unknown.
struct PresentedCertificate {
  std::string_view use;
  std::int64_t not_after = 0;
};

// pushgate_certificate_expiry_timestamp_seconds{use}: one sample per certificate with a known
// notAfter; nothing at all (not even HELP) when there is none, e.g. plain HTTP and no listener.
void write_certificate_expiry(metrics::Writer& w, const std::vector<PresentedCertificate>& certificates);

// One APNs or FCM app's provider token, as its provider reports it.
struct ProviderToken {
  std::string_view app, service;  // service: "apns" | "fcm"
  std::int64_t expires_at = 0;    // epoch seconds; 0 while the app holds no token
  std::uint64_t failures = 0;     // since start, across reloads
};

// pushgate_provider_token_failures_total{app,service} for every app (0 included, so rate()
// sees the first failure), and pushgate_provider_token_expiry_timestamp_seconds{app,service}
// only for the apps that hold a token: an app that has not needed one has no series, never 0.
void write_provider_tokens(metrics::Writer& w, const std::vector<ProviderToken>& tokens);

}  // namespace pushgate::api
