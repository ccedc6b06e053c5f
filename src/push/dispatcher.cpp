// Resolution of publish-options to an app and push kind, and the in-flight bound.
#include "push/dispatcher.hpp"

#include <chrono>
#include <cstdio>

#include "common/log.hpp"
#include "common/secret.hpp"

namespace pushgate {

namespace {
// The publish-options `type` (absent or empty: a message), or why it is not one.
std::variant<PushKind, Outcome> requested_kind(const PushRequest& request) {
  const std::string* type = request.option("type");
  if (type == nullptr || type->empty()) {
    // Siskin's calls carry no publish-options: <encrypted type='voip'> says it. An explicit
    // type wins, so a token-as-node publish never turns into a call by its payload alone.
    return request.encrypted_call() ? PushKind::Voip : PushKind::Alert;
  }
  if (auto parsed = parse_push_kind(*type)) return *parsed;
  return Outcome{OutcomeKind::BadRequest,
                 "unknown push type '" + type->substr(0, 32) + "'; use voip, call, message, alert, background or silent"};
}

// Whether a token-as-node publish may use `app`; nullopt when it may. `named`: the publish
// chose the app by name (`app` or `pushModule`) rather than falling to the default.
std::optional<Outcome> check_publish_secret(const PushRequest& request, const AppConfig& app, bool named) {
  const std::string* secret = request.option("secret");
  if (app.secret) {
    if (secret == nullptr) return Outcome{OutcomeKind::Forbidden, "publish-options carry no secret"};
    if (!constant_time_equal(*secret, *app.secret)) return Outcome{OutcomeKind::Forbidden, "wrong secret"};
    return std::nullopt;
  }
  if (!app.require_secret) {
    // Monal's publishes carry `pushModule` and nothing else: naming the app is the whole
    // request, so only a publish that names it gets in.
    if (named) return std::nullopt;
    return Outcome{OutcomeKind::Forbidden, "app '" + app.name +
                                               "' takes publishes without a secret only when they "
                                               "name it (pushModule or app)"};
  }
  if (named) {
    // The client asked for this app by name and we have no secret to check: our configuration
    // decides, not the device, so Prosody must keep the registration (wait, never cancel).
    return Outcome{OutcomeKind::OperatorError, "app '" + app.name +
                                                   "' has no secret_file, so it serves registered "
                                                   "devices only; set require_secret = false for clients that send no "
                                                   "secret (Monal), or give the app a secret_file"};
  }
  // An unnamed publish to a default app without a secret: no registration matched it (with a
  // store, the caller answers item-not-found: a registration that is gone).
  return Outcome{OutcomeKind::Forbidden,
                 "not a registered node, and app '" + app.name + "' has no secret for token-as-node publishes"};
}
}  // namespace

std::variant<Resolved, Outcome> resolve_token_as_node(const PushRequest& request, const std::vector<AppConfig>& apps,
                                                      bool authenticated) {
  if (apps.empty()) return Outcome{OutcomeKind::OperatorError, "no app is configured"};
  std::size_t index = 0;
  // fpush names the app `pushModule`; the CommEazy gateway names it `app`.
  const std::string* selector = request.option("app");
  if (selector == nullptr) selector = request.option("pushModule");
  bool named = selector != nullptr && !selector->empty();
  if (named) {
    bool found = false;
    for (std::size_t i = 0; i < apps.size(); ++i) {
      if (apps[i].name == *selector) {
        index = i;
        found = true;
        break;
      }
    }
    if (!found) {
      // From Prosody, an app we lack is our configuration (a Monal build's pushModule, a
      // sandbox variant), not a broken publish: `wait`, so Prosody keeps the registration
      // until the operator adds it. The local API's caller typed it: a bad request.
      std::string why = "unknown app '" + selector->substr(0, 64) + "': no [[app]] has this name";
      return Outcome{authenticated ? OutcomeKind::BadRequest : OutcomeKind::OperatorError, why};
    }
  }
  const AppConfig& app = apps[index];
  if (!authenticated) {
    if (auto refused = check_publish_secret(request, app, named)) return *refused;
  }
  auto kind = requested_kind(request);
  if (const Outcome* bad = std::get_if<Outcome>(&kind)) return *bad;
  return Resolved{index, std::get<PushKind>(kind)};
}

Dispatcher::Dispatcher(const Config& config, std::vector<std::unique_ptr<Provider>> providers)
    : Dispatcher(config, [&providers](const std::vector<AppConfig>&) {
        return ProviderSet{nullptr, {}, {}, std::move(providers)};
      }) {}

Dispatcher::Dispatcher(const Config& config, const ProviderFactory& make)
    : queue_size_(config.push.queue_size), current_(std::make_unique<AppSet>()), stats_(config.apps.size()) {
  current_->apps = config.apps;
  current_->providers = make(current_->apps);
}

void Dispatcher::replace_apps(std::vector<AppConfig> apps, const ProviderFactory& make) {
  auto next = std::make_unique<AppSet>();
  next->apps = std::move(apps);
  next->providers = make(next->apps);  // the providers refer to next->apps, which never moves
  std::vector<AppStats> stats(next->apps.size());
  for (std::size_t i = 0; i < next->apps.size(); ++i) {
    for (std::size_t j = 0; j < current_->apps.size(); ++j) {
      if (current_->apps[j].name == next->apps[i].name) stats[i] = std::move(stats_[j]);
    }
  }
  retired_.push_back(std::move(current_));
  current_ = std::move(next);
  stats_ = std::move(stats);
  // The old set is freed by release_retired() between loop turns, never here: a reload runs
  // inside a turn, and the old set's HTTP/2 client is one of the loop's sources.
}

void Dispatcher::release_retired() {
  std::erase_if(retired_, [this](const std::unique_ptr<AppSet>& set) {
    if (set->in_flight != 0) return false;
    freed_counters_.add(set->apps, set->providers);
    return true;
  });
}

void ProviderCounters::add(const std::vector<AppConfig>& apps, const ProviderSet& set) {
  if (set.http) {
    connections_opened += set.http->connections_opened();
    goaways += set.http->goaways();
    requeued += set.http->requeued();
  }
  for (std::size_t i = 0; i < set.providers.size() && i < apps.size(); ++i) {
    retries[apps[i].name] += set.providers[i]->retries();
  }
  for (const auto& [id, signer] : set.signers) {
    // The map key is team/key id/key file: the label keeps team/key id.
    token_mints[id.substr(0, id.find('/', id.find('/') + 1))] += signer->mints();
  }
  for (const auto& [file, tokens] : set.fcm_tokens) token_fetches[tokens->project_id()] += tokens->fetches();
}

ProviderCounters Dispatcher::provider_counters() const {
  ProviderCounters total = freed_counters_;
  for (const auto& set : retired_) total.add(set->apps, set->providers);
  total.add(current_->apps, current_->providers);
  return total;
}

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
                        std::chrono::steady_clock::time_point started, bool reached_provider, const Done& done,
                        const char* app_name) {
  bool known = app != kNoApp || app_name != nullptr;
  if (app_name == nullptr && app != kNoApp) app_name = current_->apps[app].name.c_str();
  log_push(request, known ? app_name : "-", known ? to_string(kind) : "-", outcome, started);
  auto o = static_cast<std::size_t>(outcome.kind);
  ++counts_[o];
  if (!known) {
    ++unresolved_[o];
  } else if (app != kNoApp) {
    AppStats& st = stats_[app];
    ++st.pushes[static_cast<std::size_t>(kind)][o];
    if (reached_provider) {
      st.latency.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if ((outcome.kind == OutcomeKind::Retry || outcome.kind == OutcomeKind::OperatorError) &&
          !about_one_device(outcome)) {
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

std::optional<std::string> Dispatcher::app_for_registration(const std::string& app_field,
                                                            const std::string& service) const {
  if (!app_field.empty()) {
    for (const AppConfig& a : current_->apps) {
      if (a.name == app_field) return a.name;
    }
    return std::nullopt;
  }
  ServiceKind want = service == "apns" ? ServiceKind::Apns : ServiceKind::Fcm;
  for (const AppConfig& a : current_->apps) {
    if (a.service == want) return a.name;
  }
  return current_->apps.empty() ? std::nullopt : std::optional<std::string>(current_->apps[0].name);
}

void Dispatcher::dispatch(PushRequest request, Done done, bool authenticated) {
  dispatch_impl(std::move(request), std::move(done), authenticated, false);
}

void Dispatcher::fire_trailing(const std::string& key) {
  auto it = throttles_.find(key);
  if (it == throttles_.end() || !it->second.trailing) return;
  it->second.trailing = false;
  it->second.last_sent = std::chrono::steady_clock::now();
  PushRequest latest = std::move(it->second.latest);
  // Nobody waits for the trailing push: its outcome is logged and counted like any other.
  dispatch_impl(std::move(latest), [](const Outcome&) {}, false, true);
}

void Dispatcher::dispatch_impl(PushRequest request, Done done, bool authenticated, bool trailing) {
  auto started = std::chrono::steady_clock::now();
  if (store_ == nullptr) {
    route(std::move(request), std::nullopt, std::move(done), authenticated, trailing, started);
    return;
  }
  // A registered node wins over token-as-node: it names the app and the real token. The
  // lookup runs on the store's worker; the loop goes on meanwhile.
  std::function<std::optional<Registration>(RegistrationStore&)> lookup;
  if (authenticated) {
    lookup = [node = request.node](RegistrationStore& s) { return s.find_node(node); };
  } else {
    lookup = [domain = request.sender_domain, node = request.node](RegistrationStore& s) {
      return s.find(domain, node);
    };
  }
  ++awaiting_store_;
  store_->call<std::optional<Registration>>(
      authenticated ? "find_node" : "find", std::move(lookup),
      [this, request = std::move(request), done = std::move(done), authenticated, trailing,
       started](StoreResult<std::optional<Registration>> found) mutable {
        --awaiting_store_;
        if (const StoreFailure* failure = std::get_if<StoreFailure>(&found)) {
          OutcomeKind kind =
              failure->kind == StoreFailure::Kind::QueueFull ? OutcomeKind::QueueFull : OutcomeKind::Retry;
          finish(request, kNoApp, PushKind::Alert, Outcome{kind, "registration store: " + failure->reason}, started,
                 false, done);
          return;
        }
        route(std::move(request), std::move(std::get<std::optional<Registration>>(found)), std::move(done),
              authenticated, trailing, started);
      });
}

void Dispatcher::route(PushRequest request, std::optional<Registration> registration, Done done, bool authenticated,
                       bool trailing, std::chrono::steady_clock::time_point started) {
  std::variant<Resolved, Outcome> resolved = Outcome{};
  if (registration) {
    const std::string* secret = request.option("secret");
    std::size_t index = current_->apps.size();
    for (std::size_t i = 0; i < current_->apps.size(); ++i) {
      if (current_->apps[i].name == registration->app) index = i;
    }
    auto kind = requested_kind(request);
    // A node-only registration (Tigase's register-device) has no secret: its random node,
    // bound to the user's domain by the lookup, is what authorizes the publish.
    bool secret_ok = authenticated || registration->secret.empty() ||
                     (secret != nullptr && constant_time_equal(*secret, registration->secret));
    if (!secret_ok) {
      resolved = Outcome{OutcomeKind::Forbidden, "wrong secret for this registered node"};
    } else if (index == current_->apps.size()) {
      resolved = Outcome{OutcomeKind::OperatorError, "the node is registered for app '" + registration->app +
                                                         "', which is no longer configured"};
    } else if (const Outcome* bad = std::get_if<Outcome>(&kind)) {
      resolved = *bad;
    } else {
      resolved = Resolved{index, std::get<PushKind>(kind)};
    }
  } else {
    resolved = resolve_token_as_node(request, current_->apps, authenticated);
    // With registrations on, a node that is neither registered nor a device token with an
    // app's secret is a registration that is gone: item-not-found lets Prosody forget it.
    // Not when the publish names its app (`app`, `pushModule`): that is a token-as-node
    // client (registered nodes never name one), and a secret it lacks is no gone device.
    const std::string* app_option = request.option("app");
    const std::string* module_option = request.option("pushModule");
    bool named =
        (app_option != nullptr && !app_option->empty()) || (module_option != nullptr && !module_option->empty());
    if (store_ != nullptr && !authenticated && !named && std::holds_alternative<Outcome>(resolved) &&
        std::get<Outcome>(resolved).kind == OutcomeKind::Forbidden) {
      resolved = Outcome{OutcomeKind::UnknownNode, "no registration for this node"};
    }
  }
  if (const Outcome* refused = std::get_if<Outcome>(&resolved)) {
    finish(request, kNoApp, PushKind::Alert, *refused, started, false, done);
    return;
  }
  const Resolved& r = std::get<Resolved>(resolved);
  const AppConfig& app = current_->apps[r.app_index];
  std::string dead_key;
  if (!registration) {
    // Token-as-node: a token the provider already called dead is not sent again for a day.
    dead_key = app.name + '\0' + request.node;
    auto it = dead_tokens_.find(dead_key);
    if (it != dead_tokens_.end()) {
      if (std::chrono::steady_clock::now() < it->second) {
        ++dead_token_hits_;
        finish(request, r.app_index, r.kind, Outcome{OutcomeKind::TokenDead, "token reported dead earlier; not retried"},
               started, false, done);
        return;
      }
      dead_tokens_.erase(it);
    }
  }
  // Throttle bursts of messages to one device (Prosody publishes once per message): calls are
  // never delayed; the local API (an operator testing a device) is not throttled.
  if (!trailing && !authenticated && scheduler_ && r.kind != PushKind::Voip && app.throttle_ms > 0) {
    std::string key = app.name + '\0' + to_string(r.kind) + '\0' + request.sender_domain + '\0' + request.node;
    auto window = std::chrono::milliseconds(app.throttle_ms);
    // Entries whose window passed hold nothing: swept at most once a second, so many devices
    // never make every push walk the whole map.
    if (throttles_.size() > 10000 && started - last_sweep_ > std::chrono::seconds(1)) {
      last_sweep_ = started;
      for (auto it = throttles_.begin(); it != throttles_.end();) {
        it = !it->second.trailing && started - it->second.last_sent > window ? throttles_.erase(it) : std::next(it);
      }
    }
    Throttle& t = throttles_[key];
    if (t.last_sent.time_since_epoch().count() != 0 && started < t.last_sent + window) {
      ++coalesced_;
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(t.last_sent + window - started);
      t.latest = request;
      if (!t.trailing) {
        t.trailing = true;
        scheduler_(wait, [this, key] { fire_trailing(key); });
      }
      finish(request, r.app_index, r.kind,
             Outcome{OutcomeKind::Coalesced, "a trailing push follows in " + std::to_string(wait.count()) + " ms"}, started,
             false, done);
      return;
    }
    t.last_sent = started;
  }
  if (in_flight_ >= queue_size_) {
    Outcome full{OutcomeKind::QueueFull, "push queue is full (" + std::to_string(queue_size_) + ")"};
    finish(request, r.app_index, r.kind, full, started, false, done);
    return;
  }
  ++in_flight_;
  // The log line needs the request after the provider took it: keep the few fields it uses.
  PushRequest summary;
  summary.node = request.node;
  summary.sender_domain = registration ? registration->domain : request.sender_domain;
  std::int64_t dispatched_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count();
  PushKind kind = r.kind;
  if (registration) {
    // What the client reads from the push to find its account (CLIENTS.md). A node-only
    // registration is Tigase's register-device.
    request.dialect = registration->secret.empty() ? Dialect::Tigase : Dialect::P2;
    request.account = registration->account;
    request.channel = registration->channel;
    // The provider gets the device's real token; a call goes to the call token when there is one.
    bool call_token = kind == PushKind::Voip && !registration->voip_token.empty();
    if (kind == PushKind::Voip && !call_token && app.service == ServiceKind::Apns) {
      // No PushKit token: APNs refuses the .voip topic for an ordinary token
      // (DeviceTokenNotForTopic), so the call rings as a high-priority alert instead.
      kind = PushKind::Alert;
      request.priority = "high";
    }
    request.node = call_token ? registration->voip_token : registration->token;
  }
  PushJob job{&app, kind, std::move(request)};
  AppSet* set = current_.get();
  ++set->in_flight;
  set->providers.providers[r.app_index]->send(std::move(job), [this, set, index = r.app_index, kind, summary = std::move(summary),
                                                 started, dispatched_ms, registered = registration.has_value(),
                                                 dead_key = std::move(dead_key), done = std::move(done)](const Outcome& outcome) {
    --in_flight_;
    --set->in_flight;
    // Sent before a reload: the app's statistics follow its name into the new set, if it is there.
    std::size_t stats_index = index;
    const char* app_name = nullptr;
    if (set != current_.get()) {
      app_name = set->apps[index].name.c_str();
      stats_index = kNoApp;
      for (std::size_t i = 0; i < current_->apps.size(); ++i) {
        if (current_->apps[i].name == set->apps[index].name) stats_index = i;
      }
    }
    if (!registered && outcome.kind == OutcomeKind::TokenDead && !dead_key.empty()) {
      if (dead_tokens_.size() >= kMaxDeadTokens) dead_tokens_.clear();  // crude bound: forget all, never grow
      dead_tokens_[dead_key] = std::chrono::steady_clock::now() + kDeadTokenTtl;
    }
    if (registered && outcome.kind == OutcomeKind::TokenDead && store_ != nullptr) {
      // Dead since the provider's time (APNs 410), else since this push went out: a device
      // that registered a new token after that keeps its registration. Prosody hears
      // item-not-found now; the row goes when the store answers (a failure only leaves it for
      // the next dead push to remove).
      std::int64_t since = outcome.failed_at_ms != 0 ? outcome.failed_at_ms : dispatched_ms;
      store_->call<bool>(
          "remove_dead",
          [domain = summary.sender_domain, node = summary.node, since](RegistrationStore& s) {
            return s.remove_dead(domain, node, since);
          },
          [node = summary.node, domain = summary.sender_domain,
           reason = outcome.reason](const StoreResult<bool>& removed) {
            if (const StoreFailure* failure = std::get_if<StoreFailure>(&removed)) {
              log::warn("registration_not_removed",
                        {{"node", log::redact(node)}, {"from", domain}, {"cause", failure->reason}});
            } else if (std::get<bool>(removed)) {
              log::info("registration_removed", {{"node", log::redact(node)}, {"from", domain}, {"reason", reason}});
            }
          });
    }
    finish(summary, stats_index, kind, outcome, started, true, done, app_name);
  });
}

}  // namespace pushgate
