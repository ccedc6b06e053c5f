// Resolution of publish-options to an app and push kind, and the in-flight bound.
#include "push/dispatcher.hpp"

#include <chrono>
#include <cstdio>

#include "common/log.hpp"
#include "common/secret.hpp"

namespace pushgate {

std::variant<Resolved, Outcome> resolve_token_as_node(const PushRequest& request, const std::vector<AppConfig>& apps,
                                                      bool authenticated) {
  if (apps.empty()) return Outcome{OutcomeKind::OperatorError, "no app is configured"};
  std::size_t index = 0;
  // fpush names the app `pushModule`; the CommEazy gateway names it `app`.
  const std::string* selector = request.option("app");
  if (selector == nullptr) selector = request.option("pushModule");
  if (selector != nullptr && !selector->empty()) {
    bool found = false;
    for (std::size_t i = 0; i < apps.size(); ++i) {
      if (apps[i].name == *selector) {
        index = i;
        found = true;
        break;
      }
    }
    if (!found) return Outcome{OutcomeKind::BadRequest, "unknown app '" + selector->substr(0, 64) + "'"};
  }
  const AppConfig& app = apps[index];
  const std::string* secret = request.option("secret");
  if (!authenticated && (secret == nullptr || !app.secret || !constant_time_equal(*secret, *app.secret))) {
    return Outcome{OutcomeKind::Forbidden, secret == nullptr ? "publish-options carry no secret" : "wrong secret"};
  }
  PushKind kind = PushKind::Alert;
  if (const std::string* type = request.option("type"); type != nullptr && !type->empty()) {
    auto parsed = parse_push_kind(*type);
    if (!parsed) {
      return Outcome{OutcomeKind::BadRequest,
                     "unknown push type '" + type->substr(0, 32) + "'; use voip, call, message, alert, background or silent"};
    }
    kind = *parsed;
  }
  return Resolved{index, kind};
}

Dispatcher::Dispatcher(const Config& config, std::vector<std::unique_ptr<Provider>> providers)
    : config_(config), providers_(std::move(providers)), stats_(config.apps.size()) {}

namespace {
// One line per push: enough to follow a device (last 6 characters) and never the token.
void log_push(const PushRequest& request, const char* app, const char* kind, const Outcome& outcome,
              std::chrono::steady_clock::time_point started) {
  bool failed = outcome.kind != OutcomeKind::Delivered && outcome.kind != OutcomeKind::Coalesced;
  log::Level level = failed ? log::Level::Warn : log::Level::Info;
  if (level < log::level()) return;  // skip building the fields of a line nobody reads
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f", static_cast<double>(us) / 1000.0);
  log::write(level, "push",
             {{"app", app}, {"kind", kind}, {"token", log::redact(request.node)}, {"from", request.sender_domain},
              {"outcome", to_string(outcome.kind)}, {"reason", outcome.reason}, {"ms", ms}});
}
}  // namespace

void Dispatcher::finish(const PushRequest& request, std::size_t app, PushKind kind, const Outcome& outcome,
                        std::chrono::steady_clock::time_point started, bool reached_provider, const Done& done) {
  bool known = app != kNoApp;
  log_push(request, known ? config_.apps[app].name.c_str() : "-", known ? to_string(kind) : "-", outcome, started);
  auto o = static_cast<std::size_t>(outcome.kind);
  ++counts_[o];
  if (!known) {
    ++unresolved_[o];
  } else {
    AppStats& st = stats_[app];
    ++st.pushes[static_cast<std::size_t>(kind)][o];
    if (reached_provider) {
      st.latency.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (outcome.kind == OutcomeKind::Retry || outcome.kind == OutcomeKind::OperatorError) {
        ++st.consecutive_failures;
        st.last_error_at = std::chrono::system_clock::now();
        st.last_error = std::string(to_string(outcome.kind)) + ": " + outcome.reason.substr(0, 200);
        st.last_error_operator = outcome.kind == OutcomeKind::OperatorError;
      } else {
        // The provider answered about the device or the request: it is reachable.
        st.consecutive_failures = 0;
        if (outcome.kind == OutcomeKind::Delivered) st.last_success = std::chrono::system_clock::now();
      }
    }
  }
  done(outcome);
}

void Dispatcher::dispatch(PushRequest request, Done done, bool authenticated) {
  auto started = std::chrono::steady_clock::now();
  // Refusals first: they cost nothing and must not be reported as a full queue.
  auto resolved = resolve_token_as_node(request, config_.apps, authenticated);
  if (const Outcome* refused = std::get_if<Outcome>(&resolved)) {
    finish(request, kNoApp, PushKind::Alert, *refused, started, false, done);
    return;
  }
  const Resolved& r = std::get<Resolved>(resolved);
  const AppConfig& app = config_.apps[r.app_index];
  if (in_flight_ >= config_.push.queue_size) {
    Outcome full{OutcomeKind::QueueFull, "push queue is full (" + std::to_string(config_.push.queue_size) + ")"};
    finish(request, r.app_index, r.kind, full, started, false, done);
    return;
  }
  ++in_flight_;
  // The log line needs the request after the provider took it: keep the few fields it uses.
  PushRequest summary;
  summary.node = request.node;
  summary.sender_domain = request.sender_domain;
  PushJob job{&app, r.kind, std::move(request)};
  providers_[r.app_index]->send(std::move(job), [this, index = r.app_index, kind = r.kind, summary = std::move(summary),
                                                 started, done = std::move(done)](const Outcome& outcome) {
    --in_flight_;
    finish(summary, index, kind, outcome, started, true, done);
  });
}

}  // namespace pushgate
