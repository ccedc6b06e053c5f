// Certificate and provider-token expiry in Prometheus text.
#include "api/expiry_metrics.hpp"

namespace pushgate::api {

void write_certificate_expiry(metrics::Writer& w, const std::vector<PresentedCertificate>& certificates) {
  bool started = false;
  for (const PresentedCertificate& c : certificates) {
    if (c.not_after <= 0) continue;
    if (!started) {
      w.family("pushgate_certificate_expiry_timestamp_seconds", "gauge",
               "notAfter (epoch seconds) of the certificate pushgate presents, by use; a reload (SIGHUP) loads a "
               "renewed one.");
      started = true;
    }
    w.sample("pushgate_certificate_expiry_timestamp_seconds", {{"use", c.use}},
             static_cast<std::uint64_t>(c.not_after));
  }
}

void write_provider_tokens(metrics::Writer& w, const std::vector<ProviderToken>& tokens) {
  w.family("pushgate_provider_token_failures_total", "counter",
           "Push attempts that needed a provider token and got none (signing or the OAuth2 fetch failed), or whose "
           "token the provider refused, by app.");
  for (const ProviderToken& t : tokens) {
    w.sample("pushgate_provider_token_failures_total", {{"app", t.app}, {"service", t.service}}, t.failures);
  }
  w.family("pushgate_provider_token_expiry_timestamp_seconds", "gauge",
           "When the provider token the app holds stops being valid (epoch seconds): APNs issued_at + 3600, FCM the "
           "access token's expires_in. Tokens are renewed on use, so an idle app's may lie in the past; no series "
           "before the app's first token.");
  for (const ProviderToken& t : tokens) {
    if (t.expires_at <= 0) continue;
    w.sample("pushgate_provider_token_expiry_timestamp_seconds", {{"app", t.app}, {"service", t.service}},
             static_cast<std::uint64_t>(t.expires_at));
  }
}

}  // namespace pushgate::api
