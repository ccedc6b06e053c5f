// RS256 assertions and the cached FCM access token.
#include "push/fcm_oauth.hpp"

#include <algorithm>
#include <memory>

#include <nlohmann/json.hpp>
#include <openssl/err.h>

#include "common/json_text.hpp"
#include "common/log.hpp"

namespace pushgate {

Result<std::string> make_fcm_assertion(const FcmServiceAccount& account, std::int64_t iat) {
  const Error cannot_sign{"signing the FCM OAuth2 assertion failed: the service account's key cannot sign",
                          "download a new key for the service account (Firebase console → Service accounts), put it "
                          "in credentials_file and send pushgate SIGHUP"};
  std::string header = "{\"alg\":\"RS256\",\"typ\":\"JWT\"";
  if (!account.private_key_id.empty()) {
    header += ",\"kid\":";
    append_json_string(header, account.private_key_id);
  }
  header += '}';
  std::string claims = "{\"iss\":";
  append_json_string(claims, account.client_email);
  claims += ",\"scope\":";
  append_json_string(claims, kFcmScope);
  claims += ",\"aud\":";
  append_json_string(claims, account.token_uri);
  claims += ",\"iat\":" + std::to_string(iat) + ",\"exp\":" + std::to_string(iat + 3600) + "}";
  std::string input = base64url(header) + "." + base64url(claims);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, account.key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    ERR_clear_error();
    return cannot_sign;
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    ERR_clear_error();
    return cannot_sign;
  }
  sig.resize(len);
  return input + "." + base64url(sig);
}

FcmTokenResult parse_fcm_token_response(int status, std::string_view body) {
  FcmTokenResult r;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (status == 200) {
    if (j.is_object() && j.contains("access_token") && j["access_token"].is_string() &&
        !j["access_token"].get_ref<const std::string&>().empty() && j.contains("expires_in") &&
        j["expires_in"].is_number_integer() && j["expires_in"].get<std::int64_t>() > 0) {
      r.token = j["access_token"].get<std::string>();
      r.expires_in = std::min<std::int64_t>(j["expires_in"].get<std::int64_t>(), 24 * 3600);
      return r;
    }
    r.error = "token endpoint answered 200 without access_token and expires_in";
    return r;
  }
  std::string why = "HTTP " + std::to_string(status);
  if (j.is_object()) {
    if (j.contains("error") && j["error"].is_string()) why += " " + j["error"].get<std::string>().substr(0, 64);
    if (j.contains("error_description") && j["error_description"].is_string()) {
      why += ": " + j["error_description"].get<std::string>().substr(0, 160);
    }
  }
  r.error = "token endpoint refused the service account: " + why;
  // 400 invalid_grant (bad signature, unknown key, clock skew), 401/403 unauthorized_client:
  // the credentials are wrong, not the network.
  r.operator_error = status == 400 || status == 401 || status == 403;
  if (!r.operator_error) r.error = "token endpoint failed: " + why;
  return r;
}

FcmTokenSource::FcmTokenSource(EventLoop& loop, Http2Client& http, FcmServiceAccount account, std::string ca_file)
    : loop_(loop), http_(http), account_(std::move(account)), ca_file_(std::move(ca_file)) {}

FcmTokenSource::~FcmTokenSource() { *alive_ = false; }

const std::string* FcmTokenSource::current() {
  auto now = std::chrono::steady_clock::now();
  if (token_.empty() || now >= expires_at_) return nullptr;
  if (now >= refresh_at_ && !fetching_) fetch();
  return &token_;
}

void FcmTokenSource::get(Ready ready) {
  if (const std::string* token = current()) {
    FcmTokenResult r;
    r.token = *token;
    loop_.defer([ready = std::move(ready), r] { ready(r); });
    return;
  }
  if (!fetching_ && std::chrono::steady_clock::now() < cool_down_until_) {
    loop_.defer([ready = std::move(ready), r = last_failure_] { ready(r); });
    return;
  }
  waiting_.push_back(std::move(ready));
  if (!fetching_) fetch();
}

void FcmTokenSource::invalidate(const std::string& token) {
  if (token == token_) {
    token_.clear();
    expires_at_epoch_ = 0;
    log::info("fcm_token_invalidated", {{"project", account_.project_id}, {"reason", "FCM answered 401"}});
  }
}

void FcmTokenSource::fetch() {
  fetching_ = true;
  ++fetches_;
  Http2Request req;
  req.url = account_.token_uri;
  req.headers = {{"content-type", "application/x-www-form-urlencoded"}};
  std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto assertion = make_fcm_assertion(account_, now);
  if (!assertion) {
    FcmTokenResult r;
    r.error = assertion.error().message();
    r.operator_error = true;
    loop_.defer([this, alive = alive_, r] {
      if (*alive) finish_fetch(r);
    });
    return;
  }
  // The JWT is base64url and dots only: safe in a form body as it is.
  req.body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + assertion.value();
  req.timeout = std::chrono::milliseconds(5000);
  req.ca_file = ca_file_;
  http_.submit(std::move(req), [this, alive = alive_](Http2Response resp) {
    if (!*alive) return;
    FcmTokenResult r;
    if (!resp.answered()) {
      r.error = "token endpoint " + account_.token_uri + " unreachable: " + resp.error;
      r.operator_error = resp.failure == Http2Failure::TlsVerify || resp.failure == Http2Failure::NotHttp2 ||
                         resp.failure == Http2Failure::BadUrl;
    } else {
      r = parse_fcm_token_response(resp.status, resp.body);
    }
    finish_fetch(std::move(r));
  });
}

void FcmTokenSource::finish_fetch(FcmTokenResult result) {
  fetching_ = false;
  auto now = std::chrono::steady_clock::now();
  if (!result.token.empty()) {
    token_ = result.token;
    expires_at_ = now + std::chrono::seconds(result.expires_in);
    expires_at_epoch_ = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count() + result.expires_in;
    // Refreshed a fifth of its life (at most 5 minutes) before it runs out.
    refresh_at_ = expires_at_ - std::chrono::seconds(std::min<std::int64_t>(300, result.expires_in / 5));
    log::debug("fcm_token_fetched", {{"project", account_.project_id}, {"expires_in", std::to_string(result.expires_in)}});
  } else {
    last_failure_ = result;
    cool_down_until_ = now + (result.operator_error ? std::chrono::seconds(10) : std::chrono::seconds(1));
    (result.operator_error ? log::error : log::warn)(
        "fcm_token_failed", {{"project", account_.project_id}, {"client_email", account_.client_email},
                             {"error", result.error},
                             {"fix", result.operator_error ? "check the service account (Firebase console → Service accounts) and the clock"
                                                           : "check the network path to the token endpoint"}});
  }
  std::vector<Ready> waiting;
  waiting.swap(waiting_);
  for (auto& ready : waiting) ready(result);
}

}  // namespace pushgate
