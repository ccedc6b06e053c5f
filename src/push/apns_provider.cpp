// One APNs push from request to outcome, attempts and retries included.
#include "push/apns_provider.hpp"

#include <chrono>

#include "common/log.hpp"
#include "push/backoff.hpp"

namespace pushgate {

struct ApnsProvider::Push {
  PushJob job;
  ApnsRequest request;
  Completion done;
  std::chrono::steady_clock::time_point deadline;
  unsigned attempt = 0;
  std::string last_reason;
};

namespace {
std::int64_t epoch_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

ApnsProvider::ApnsProvider(EventLoop& loop, Http2Client& http, std::shared_ptr<ApnsTokenSigner> signer,
                           const AppConfig& app)
    : loop_(loop), http_(http), signer_(std::move(signer)), app_(app), rng_(std::random_device{}()) {}

std::chrono::milliseconds ApnsProvider::backoff(unsigned attempt, std::mt19937& rng) {
  return retry_backoff(attempt, rng);
}

void ApnsProvider::send(PushJob job, Completion done) {
  auto built = build_apns_request(job, epoch_now());
  if (auto* refused = std::get_if<Outcome>(&built)) {
    loop_.defer([done = std::move(done), outcome = *refused] { done(outcome); });
    return;
  }
  auto push = std::make_shared<Push>();
  push->request = std::move(std::get<ApnsRequest>(built));
  push->deadline = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(job.kind == PushKind::Voip ? app_.voip_deadline_ms : app_.deadline_ms);
  push->job = std::move(job);
  push->done = std::move(done);
  attempt(std::move(push));
}

void ApnsProvider::finish(const std::shared_ptr<Push>& push, Outcome outcome) {
  if (outcome.kind == OutcomeKind::OperatorError) {
    // Loud: this is our configuration, and every push of this app will fail the same way.
    log::error("apns_operator_error", {{"app", app_.name}, {"reason", outcome.reason}, {"topic", app_.topic},
                                       {"team_id", app_.team_id}, {"key_id", app_.key_id}, {"endpoint", app_.endpoint},
                                       {"fix", "check topic, team_id, key_id, key_file and environment (sandbox/production)"}});
  }
  push->done(outcome);
}

void ApnsProvider::attempt(std::shared_ptr<Push> push) {
  auto now = std::chrono::steady_clock::now();
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(push->deadline - now);
  if (left.count() <= 0) {
    finish(push, Outcome{OutcomeKind::Retry, push->last_reason + " (deadline passed after " +
                                                 std::to_string(push->attempt) + " attempts)"});
    return;
  }
  ++push->attempt;
  ++attempts_;
  Http2Request req;
  req.url = app_.endpoint + push->request.path;
  req.headers = push->request.headers;
  try {
    req.headers.emplace_back("authorization", "bearer " + signer_->token(epoch_now()));
  } catch (const std::exception& e) {
    finish(push, Outcome{OutcomeKind::OperatorError, e.what()});
    return;
  }
  req.body = push->request.body;
  req.timeout = left;
  req.ca_file = app_.ca_file;
  http_.submit(std::move(req), [this, push](Http2Response r) {
    ApnsVerdict v;
    if (!r.answered()) {
      // Connection refused or lost, TLS failure, timeout, a stream reset: nothing says the
      // push was processed, so it is tried again on a fresh stream. (Streams the server
      // refused unprocessed never get here: the client sends them again by itself.)
      v = {OutcomeKind::Retry, true, false, std::string(to_string(r.failure)) + ": " + r.error, std::nullopt};
      if (r.failure == Http2Failure::TlsVerify || r.failure == Http2Failure::NotHttp2 ||
          r.failure == Http2Failure::BadUrl) {
        v = {OutcomeKind::OperatorError, false, false, r.error, std::nullopt};
      }
    } else {
      v = classify_apns_response(r.status, r.body);
    }
    push->last_reason = v.reason;
    if (v.provider_token_expired) signer_->expired(epoch_now());
    if (!v.retry) {
      Outcome o{v.kind, v.reason};
      if (v.timestamp_ms) {
        o.reason += " (since " + std::to_string(*v.timestamp_ms) + " ms)";
        o.failed_at_ms = *v.timestamp_ms;
      }
      finish(push, std::move(o));
      return;
    }
    auto delay = backoff(push->attempt, rng_);
    if (std::chrono::steady_clock::now() + delay >= push->deadline) {
      finish(push, Outcome{v.provider_token_expired ? OutcomeKind::OperatorError : OutcomeKind::Retry,
                           v.reason + " (deadline passed after " + std::to_string(push->attempt) + " attempts)"});
      return;
    }
    log::debug("apns_retry", {{"app", app_.name}, {"token", log::redact(push->job.request.node)}, {"reason", v.reason},
                              {"attempt", std::to_string(push->attempt)}, {"in_ms", std::to_string(delay.count())}});
    ++retries_;
    loop_.call_after(delay, [this, push] { attempt(push); });
  });
}

}  // namespace pushgate
