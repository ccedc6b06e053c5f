// One APNs push from request to outcome, attempts and retries included.
#include "push/apns_provider.hpp"

#include <chrono>

#include "common/log.hpp"

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
    : RetryingProvider(loop, http, app, "apns_retry"), signer_(std::move(signer)) {}

void ApnsProvider::send(PushJob job, Completion done) {
  auto built = build_apns_request(job, epoch_now());
  if (!built) {
    refuse(std::move(done), built.error());
    return;
  }
  auto push = std::make_shared<Push>();
  push->request = std::move(built).value();
  push->deadline = deadline_for(job.kind);
  push->job = std::move(job);
  push->done = std::move(done);
  attempt(std::move(push));
}

void ApnsProvider::finish(const std::shared_ptr<Push>& push, Outcome outcome) {
  if (outcome.kind == OutcomeKind::OperatorError) {
    // Loud: this is our configuration (or our routing of one device), never the device's end.
    bool not_for_topic = about_one_device(outcome);  // DeviceTokenNotForTopic, as APNs names it
    std::string topic = push->job.kind == PushKind::Voip ? app_.topic + ".voip" : app_.topic;
    const char* fix = not_for_topic
                          ? "the device token is alive but belongs to another bundle id or push kind: check that its "
                            "client is routed to this [[app]] (topic) and that calls go to its PushKit token"
                          : "check topic, team_id, key_id, key_file and environment (sandbox/production)";
    log::error("apns_operator_error", {{"app", app_.name},
                                       {"reason", outcome.reason},
                                       {"topic", topic},
                                       {"kind", to_string(push->job.kind)},
                                       {"token", log::redact(push->job.request.node)},
                                       {"team_id", app_.team_id},
                                       {"key_id", app_.key_id},
                                       {"endpoint", app_.endpoint},
                                       {"fix", fix}});
  }
  push->done(outcome);
}

void ApnsProvider::attempt(std::shared_ptr<Push> push) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(push->deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    finish(push, Outcome{OutcomeKind::Retry, deadline_passed(push->last_reason, push->attempt)});
    return;
  }
  ++push->attempt;
  count_attempt();
  Http2Request req;
  req.url = app_.endpoint + push->request.path;
  req.headers = push->request.headers;
  auto token = signer_->token(epoch_now());
  if (!token) {
    count_token_failure();
    finish(push, Outcome{OutcomeKind::OperatorError, token.error().message()});
    return;
  }
  req.headers.emplace_back("authorization", "bearer " + token.value());
  req.body = push->request.body;
  req.timeout = left;
  req.ca_file = app_.ca_file;
  http_.submit(std::move(req), [this, push](Http2Response r) { answered(push, r); });
}

void ApnsProvider::answered(const std::shared_ptr<Push>& push, const Http2Response& r) {
  ApnsVerdict v;
  if (!r.answered()) {
    // Streams the server refused unprocessed never get here: the client sends them again by itself.
    Outcome o = unanswered(r);
    v = {o.kind, o.kind == OutcomeKind::Retry, false, std::move(o.reason), std::nullopt};
  } else {
    v = classify_apns_response(r.status, r.body);
  }
  push->last_reason = v.reason;
  if (v.provider_token_expired) signer_->expired(epoch_now());
  // Apple refused the token itself: expired (this host's clock), or not signed by the key
  // Apple has for key_id and team_id.
  if (r.answered() && r.status == 403 &&
      (v.provider_token_expired || v.reason == "InvalidProviderToken" || v.reason == "MissingProviderToken")) {
    count_token_failure();
  }
  if (!v.retry) {
    Outcome o{v.kind, v.reason};
    if (v.timestamp_ms) {
      o.reason += " (since " + std::to_string(*v.timestamp_ms) + " ms)";
      o.failed_at_ms = *v.timestamp_ms;
    }
    finish(push, std::move(o));
    return;
  }
  if (!retry_later(push->job, push->deadline, push->attempt, v.reason, std::chrono::milliseconds(0),
                   [this, push] { attempt(push); })) {
    // An expired provider token that a fresh one did not cure before the deadline is ours to fix.
    finish(push, Outcome{v.provider_token_expired ? OutcomeKind::OperatorError : OutcomeKind::Retry,
                         deadline_passed(v.reason, push->attempt)});
  }
}

}  // namespace pushgate
