// The push pipeline: store lookup, resolution, dead tokens, throttle, the in-flight bound, the
// provider, and one logged, counted answer per push.
#include "push/dispatcher.hpp"

#include <chrono>
#include <cstdio>

#include "common/log.hpp"

namespace pushgate {

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

Dispatcher::Dispatcher(const Config& config, std::vector<std::unique_ptr<Provider>> providers)
    : Dispatcher(config, [&providers](const std::vector<AppConfig>&) {
        return ProviderSet{nullptr, {}, {}, std::move(providers)};
      }) {}

Dispatcher::Dispatcher(const Config& config, const ProviderFactory& make)
    : sets_(config.apps, make), stats_(config.apps.size()), in_flight_(config.push.queue_size) {}

void Dispatcher::replace_apps(std::vector<AppConfig> apps, const ProviderFactory& make) {
  std::vector<std::string> before;
  for (const AppConfig& a : sets_.current().apps) before.push_back(a.name);
  sets_.replace(std::move(apps), make);  // may throw: then nothing has changed
  stats_.follow(before, sets_.current().apps);
}

void Dispatcher::finish(const PushRequest& request, std::size_t app, PushKind kind, const Outcome& outcome,
                        TimePoint started, bool reached_provider, const Done& done, const char* app_name) {
  bool known = app != kNoApp || app_name != nullptr;
  if (app_name == nullptr && app != kNoApp) app_name = sets_.current().apps[app].name.c_str();
  log_push(request, known ? app_name : "-", known ? to_string(kind) : "-", outcome, started);
  if (!known) {
    stats_.refused(outcome);
  } else {
    std::optional<double> provider_seconds;
    if (reached_provider) {
      provider_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    }
    stats_.finished(app, kind, outcome, provider_seconds);
  }
  done(outcome);
}

void Dispatcher::dispatch(PushRequest request, Done done, bool authenticated) {
  dispatch_impl(std::move(request), std::move(done), authenticated, false);
}

void Dispatcher::fire_trailing(const std::string& key) {
  std::optional<PushRequest> latest = throttle_.take_trailing(key, std::chrono::steady_clock::now());
  if (!latest) return;
  // Nobody waits for the trailing push: its outcome is logged and counted like any other.
  dispatch_impl(std::move(*latest), [](const Outcome&) {}, false, true);
}

namespace {
std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void Dispatcher::dispatch_impl(PushRequest request, Done done, bool authenticated, bool trailing) {
  auto started = std::chrono::steady_clock::now();
  if (store_ == nullptr) {
    route(std::move(request), std::nullopt, {}, std::move(done), authenticated, trailing, started);
    return;
  }
  // The cache of the shared dead-token list: a token-as-node publish to a token this node
  // knows dead needs no store round trip (nodes are random, never a device token, so no
  // registration can hide behind it).
  if (!dead_tokens_.empty()) {
    auto as_token = resolve_token_as_node(request, sets_.current().apps, authenticated);
    if (as_token) {
      const Resolved* r = &as_token.value();
      if (dead_tokens_.known_dead(sets_.current().apps[r->app_index].name, request.node, started)) {
        finish(request, r->app_index, r->kind,
               Outcome{OutcomeKind::TokenDead, "token reported dead earlier; not retried"}, started, false, done);
        return;
      }
    }
  }
  // A registered node wins over token-as-node: it names the app and the real token. The
  // lookup runs on the store's worker; the loop goes on meanwhile. It brings the node's marks
  // in the shared dead-token list along, in the same round trip.
  std::function<NodeLookup(RegistrationStore&)> lookup;
  if (authenticated) {
    lookup = [node = request.node](RegistrationStore& s) { return s.lookup_node(nullptr, node, epoch_ms()); };
  } else {
    lookup = [domain = request.sender_domain, node = request.node](RegistrationStore& s) {
      return s.lookup_node(&domain, node, epoch_ms());
    };
  }
  ++awaiting_store_;
  store_->call<NodeLookup>(
      authenticated ? "find_node" : "find", std::move(lookup),
      [this, request = std::move(request), done = std::move(done), authenticated, trailing,
       started](StoreResult<NodeLookup> found) mutable {
        --awaiting_store_;
        if (!found) {
          const StoreFailure& failure = found.error();
          OutcomeKind kind =
              failure.kind == StoreFailure::Kind::QueueFull ? OutcomeKind::QueueFull : OutcomeKind::Retry;
          finish(request, kNoApp, PushKind::Alert, Outcome{kind, "registration store: " + failure.reason}, started,
                 false, done);
          return;
        }
        NodeLookup& lookup = found.value();
        route(std::move(request), std::move(lookup.registration), lookup.dead, std::move(done), authenticated,
              trailing, started);
      });
}

void Dispatcher::route(PushRequest request, std::optional<Registration> registration,
                       const std::vector<DeadToken>& dead, Done done, bool authenticated, bool trailing,
                       TimePoint started) {
  Result<Resolved, Outcome> resolved =
      resolve(request, registration, sets_.current().apps, authenticated, store_ != nullptr);
  if (!resolved) {
    finish(request, kNoApp, PushKind::Alert, resolved.error(), started, false, done);
    return;
  }
  const Resolved r = resolved.value();
  const AppConfig& app = sets_.current().apps[r.app_index];
  // Token-as-node: a token the provider already called dead is not sent again for a day,
  // whichever node sharing the store it told.
  auto steady_now = std::chrono::steady_clock::now();
  if (!registration) {
    for (const DeadToken& d : dead) {
      if (d.app == app.name) {
        dead_tokens_.mark_dead_until(app.name, request.node, steady_now + std::chrono::milliseconds(d.until_ms - epoch_ms()));
      }
    }
  }
  if (!registration && dead_tokens_.known_dead(app.name, request.node, steady_now)) {
    finish(request, r.app_index, r.kind, Outcome{OutcomeKind::TokenDead, "token reported dead earlier; not retried"},
           started, false, done);
    return;
  }
  // Throttle bursts of messages to one device (Prosody publishes once per message): calls are
  // never delayed; the local API (an operator testing a device) is not throttled.
  if (!trailing && !authenticated && scheduler_ && Throttle::applies(r.kind, app)) {
    std::string key = Throttle::key(app.name, r.kind, request);
    if (auto held = throttle_.admit(key, std::chrono::milliseconds(app.throttle_ms), request, started)) {
      if (held->schedule) scheduler_(held->wait, [this, key] { fire_trailing(key); });
      Outcome coalesced{OutcomeKind::Coalesced,
                        "a trailing push follows in " + std::to_string(held->wait.count()) + " ms"};
      finish(request, r.app_index, r.kind, coalesced, started, false, done);
      return;
    }
  }
  if (!in_flight_.try_acquire()) {
    Outcome full{OutcomeKind::QueueFull, "push queue is full (" + std::to_string(in_flight_.capacity()) + ")"};
    finish(request, r.app_index, r.kind, full, started, false, done);
    return;
  }
  send(std::move(request), registration, r, started, std::move(done));
}

void Dispatcher::send(PushRequest request, const std::optional<Registration>& registration, Resolved r,
                      TimePoint started, Done done) {
  AppSets::Set* set = &sets_.current();
  const AppConfig& app = set->apps[r.app_index];
  // The log line needs the request after the provider took it: keep the few fields it uses.
  PushRequest summary;
  summary.node = request.node;
  summary.sender_domain = registration ? registration->domain : request.sender_domain;
  std::int64_t dispatched_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  PushKind kind = registration ? address_registered(request, r.kind, *registration, app.service) : r.kind;
  PushJob job{&app, kind, std::move(request)};
  ++set->in_flight;
  set->providers.providers[r.app_index]->send(
      std::move(job), [this, set, index = r.app_index, kind, summary = std::move(summary), started, dispatched_ms,
                       registered = registration.has_value(), done = std::move(done)](const Outcome& outcome) {
        in_flight_.release();
        --set->in_flight;
        const std::string& app_name = set->apps[index].name;
        // Sent before a reload: the app's statistics follow its name into the new set, if it is there.
        bool current = sets_.is_current(set);
        std::size_t stats_index = current ? index : sets_.index_of(app_name);
        if (outcome.kind == OutcomeKind::TokenDead) {
          if (!registered) {
            dead_tokens_.mark_dead(app_name, summary.node, std::chrono::steady_clock::now());
            if (store_ != nullptr) {
              std::int64_t until =
                  epoch_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(DeadTokens::kTtl).count();
              share_dead_token(app_name, summary.node, until, 1);
            }
          } else if (store_ != nullptr) {
            forget_registration(summary.sender_domain, summary.node, outcome, dispatched_ms);
          }
        }
        finish(summary, stats_index, kind, outcome, started, true, done, current ? nullptr : app_name.c_str());
      });
}

void Dispatcher::share_dead_token(const std::string& app, const std::string& token, std::int64_t until_ms,
                                  unsigned attempt) {
  store_->call<bool>(
      "mark_token_dead",
      [app, token, until_ms](RegistrationStore& s) {
        s.mark_token_dead(app, token, until_ms, epoch_ms());
        return true;
      },
      [this, app, token, until_ms, attempt](const StoreResult<bool>& written) {
        const StoreFailure* failure = written ? nullptr : &written.error();
        if (failure == nullptr) {
          if (attempt > 1) {
            --shares_waiting_;
            log::info("dead_token_shared",
                      {{"app", app}, {"token", log::redact(token)}, {"attempt", std::to_string(attempt)}});
          }
          return;
        }
        bool again = scheduler_ && attempt < kShareAttempts && (attempt > 1 || shares_waiting_ < kMaxSharesWaiting);
        if (attempt == 1 || !again) {
          log::warn("dead_token_not_shared",
                    {{"app", app}, {"token", log::redact(token)}, {"cause", failure->reason},
                     {"next", again ? "trying again every second" : "given up: other nodes learn it from the provider"}});
        }
        if (!again) {
          if (attempt > 1) --shares_waiting_;
          return;
        }
        if (attempt == 1) ++shares_waiting_;
        scheduler_(std::chrono::seconds(1), [this, app, token, until_ms, attempt] {
          share_dead_token(app, token, until_ms, attempt + 1);
        });
      });
}

void Dispatcher::forget_registration(const std::string& domain, const std::string& node, const Outcome& outcome,
                                     std::int64_t dispatched_ms) {
  // Dead since the provider's time (APNs 410), else since this push went out: a device that
  // registered a new token after that keeps its registration. Prosody hears item-not-found
  // now; the row goes when the store answers (a failure only leaves it for the next dead push
  // to remove).
  std::int64_t since = outcome.failed_at_ms != 0 ? outcome.failed_at_ms : dispatched_ms;
  store_->call<bool>(
      "remove_dead",
      [domain, node, since](RegistrationStore& s) { return s.remove_dead(domain, node, since); },
      [node, domain, reason = outcome.reason](const StoreResult<bool>& removed) {
        if (!removed) {
          log::warn("registration_not_removed",
                    {{"node", log::redact(node)}, {"from", domain}, {"cause", removed.error().reason}});
        } else if (removed.value()) {
          log::info("registration_removed", {{"node", log::redact(node)}, {"from", domain}, {"reason", reason}});
        }
      });
}

}  // namespace pushgate
