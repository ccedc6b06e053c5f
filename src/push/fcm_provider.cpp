// One FCM push from request to outcome: access token, attempts and retries.
#include "push/fcm_provider.hpp"

#include "common/log.hpp"

namespace pushgate {

struct FcmProvider::Push {
  PushJob job;
  FcmRequest request;
  Completion done;
  std::chrono::steady_clock::time_point deadline;
  unsigned attempt = 0;
  bool reauthenticated = false;
  std::string last_reason;
};

FcmProvider::FcmProvider(EventLoop& loop, Http2Client& http, std::shared_ptr<FcmTokenSource> tokens,
                         const AppConfig& app)
    : RetryingProvider(loop, http, app, "fcm_retry"), tokens_(std::move(tokens)) {}

void FcmProvider::send(PushJob job, Completion done) {
  auto built = build_fcm_request(job, tokens_->project_id());
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

void FcmProvider::finish(const std::shared_ptr<Push>& push, Outcome outcome) {
  if (outcome.kind == OutcomeKind::OperatorError) {
    bool mismatch = about_one_device(outcome);  // SENDER_ID_MISMATCH, as FCM names it
    const char* fix = mismatch ? "the device token belongs to another Firebase project: route its client to the "
                                 "[[app]] whose credentials_file is of that project (the app is built with its "
                                 "google-services.json)"
                               : "check credentials_file (the service account must belong to the app's Firebase "
                                 "project) and that the FCM API is enabled";
    log::error("fcm_operator_error", {{"app", app_.name},
                                      {"reason", outcome.reason},
                                      {"project", tokens_->project_id()},
                                      {"kind", to_string(push->job.kind)},
                                      {"token", log::redact(push->job.request.node)},
                                      {"endpoint", app_.endpoint},
                                      {"fix", fix}});
  }
  push->done(outcome);
}

void FcmProvider::attempt(std::shared_ptr<Push> push) {
  if (std::chrono::steady_clock::now() >= push->deadline) {
    finish(push, Outcome{OutcomeKind::Retry, deadline_passed(push->last_reason, push->attempt)});
    return;
  }
  if (const std::string* token = tokens_->current()) {
    post(push, *token);
    return;
  }
  tokens_->get([this, push](const FcmTokenResult& t) {
    if (t.token.empty()) count_token_failure();
    if (t.token.empty() && t.operator_error) {
      finish(push, Outcome{OutcomeKind::OperatorError, t.error});  // retrying cannot fix credentials
      return;
    }
    if (t.token.empty()) {
      retry_or_finish(push, OutcomeKind::Retry, t.error, std::chrono::milliseconds(0));
      return;
    }
    post(push, t.token);
  });
}

void FcmProvider::post(std::shared_ptr<Push> push, const std::string& access_token) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(push->deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    finish(push, Outcome{OutcomeKind::Retry, "deadline passed while waiting for an access token"});
    return;
  }
  ++push->attempt;
  count_attempt();
  Http2Request req;
  req.url = app_.endpoint + push->request.path;
  req.headers = {{"authorization", "Bearer " + access_token}, {"content-type", "application/json"}};
  req.body = push->request.body;
  req.timeout = left;
  req.ca_file = app_.ca_file;
  http_.submit(std::move(req), [this, push, access_token](Http2Response r) { answered(push, access_token, r); });
}

void FcmProvider::answered(const std::shared_ptr<Push>& push, const std::string& access_token, const Http2Response& r) {
  if (!r.answered()) {
    Outcome o = unanswered(r);
    if (o.kind == OutcomeKind::OperatorError) {
      finish(push, std::move(o));
      return;
    }
    retry_or_finish(push, o.kind, std::move(o.reason), std::chrono::milliseconds(0));
    return;
  }
  FcmVerdict v = classify_fcm_response(r.status, r.body, r.header("retry-after"));
  if (v.unauthenticated) {
    if (!push->reauthenticated) {
      // The access token was revoked or expired early: one new token, one more try, at once.
      push->reauthenticated = true;
      push->last_reason = v.reason;
      tokens_->invalidate(access_token);
      attempt(push);
      return;
    }
    count_token_failure();
    finish(push, Outcome{OutcomeKind::OperatorError, "401 twice with fresh access tokens: " + v.reason});
    return;
  }
  if (!v.retry) {
    finish(push, Outcome{v.kind, v.reason});
    return;
  }
  retry_or_finish(push, v.kind, v.reason, v.retry_after.value_or(std::chrono::seconds(0)));
}

void FcmProvider::retry_or_finish(const std::shared_ptr<Push>& push, OutcomeKind kind, std::string reason,
                                  std::chrono::milliseconds at_least) {
  push->last_reason = reason;
  if (!retry_later(push->job, push->deadline, push->attempt, reason, at_least, [this, push] { attempt(push); })) {
    finish(push, Outcome{kind, deadline_passed(reason, push->attempt)});
  }
}

}  // namespace pushgate
