// The dispatcher owns a push from front door to outcome: it picks the app, checks the
// secret, settles the kind, bounds what is in flight and hands the job to the provider.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/metrics.hpp"
#include "config/config.hpp"
#include "push/outcome.hpp"
#include "push/provider.hpp"
#include "push/providers.hpp"
#include "store/registration_store.hpp"
#include "store/store_worker.hpp"

namespace pushgate {

// Token-as-node resolution: which app and kind a publish asks for, or why it is refused.
// Pure; apps[0] is the default app.
struct Resolved {
  std::size_t app_index;
  PushKind kind;
};
// The app is the one `app` or `pushModule` names, else apps[0]. Its secret must match the
// publish's `secret`. An app without a secret takes a publish without one when it has
// require_secret = false and the publish names it (Monal); with require_secret, a publish
// naming it is OperatorError (our configuration, never the device's fault) and an unnamed one
// Forbidden. `authenticated`: the front door has already checked the caller (the local API's
// push_secret), so the app's publish secret is not asked for.
std::variant<Resolved, Outcome> resolve_token_as_node(const PushRequest& request, const std::vector<AppConfig>& apps,
                                                      bool authenticated = false);

inline constexpr std::size_t kOutcomeKinds = 9;
inline constexpr std::size_t kPushKinds = 3;

// What one app's pushes came to, for /health and /metrics. Loop thread only.
struct AppStats {
  std::array<std::array<std::uint64_t, kOutcomeKinds>, kPushKinds> pushes{};  // [PushKind][OutcomeKind]
  metrics::Histogram latency;  // from dispatch to the provider's answer, pushes a provider handled
  std::chrono::system_clock::time_point last_success{};   // last Delivered
  std::chrono::system_clock::time_point last_error_at{};  // last Retry or OperatorError
  std::string last_error;                                 // its outcome and reason
  bool last_error_operator = false;                       // it was OperatorError (our configuration)
  // Provider failures (Retry, OperatorError) since the provider last answered anything else.
  std::uint64_t consecutive_failures = 0;
};

// Counters of the providers' own work, summed over every provider set a dispatcher has had:
// a reload rebuilds the providers, and these must not fall back to 0 when it does.
struct ProviderCounters {
  std::uint64_t connections_opened = 0;  // HTTP/2 connections to providers
  std::uint64_t goaways = 0;
  std::uint64_t requeued = 0;
  std::map<std::string, std::uint64_t> retries;        // by app name
  std::map<std::string, std::uint64_t> token_mints;    // APNs provider tokens, by "team/key id"
  std::map<std::string, std::uint64_t> token_fetches;  // FCM access tokens, by project
  void add(const std::vector<AppConfig>& apps, const ProviderSet& set);
};

class Dispatcher {
 public:
  using Done = std::function<void(const Outcome&)>;

  // Makes the providers for a list of apps; providers[i] serves apps[i] and may keep a
  // reference to it. May throw (an unreadable key), naming the app.
  using ProviderFactory = std::function<ProviderSet(const std::vector<AppConfig>&)>;

  // `providers[i]` serves `config.apps[i]` and keeps no reference to it (tests). The
  // dispatcher keeps copies of what it needs from `config` (the apps, the queue size).
  Dispatcher(const Config& config, std::vector<std::unique_ptr<Provider>> providers);
  // The providers are made over the dispatcher's own copy of config.apps.
  Dispatcher(const Config& config, const ProviderFactory& make);

  // A configuration reload: new pushes go to `apps` and the providers `make` builds for them;
  // pushes in flight finish on the old set, which release_retired() frees once they have. An app keeps its
  // statistics when its name stays. When `make` throws, nothing changes and the exception
  // passes on. Loop thread only.
  void replace_apps(std::vector<AppConfig> apps, const ProviderFactory& make);
  // Frees replaced sets whose pushes have all finished. Call between loop turns, never from a
  // provider's completion (the provider would be freed under its own feet).
  void release_retired();
  std::size_t retired_sets() const { return retired_.size(); }

  const std::vector<AppConfig>& apps() const { return current_->apps; }
  const ProviderSet& providers() const { return current_->providers; }

  // Calls `done` exactly once, on the loop thread: at once for a refused push or a full
  // queue, else when the provider reports. With a store, the node is looked up on the store's
  // worker first: a store that fails, is too busy or does not answer within its deadline makes
  // the push Retry (QueueFull when its queue is full). `authenticated`: see resolve_token_as_node().
  void dispatch(PushRequest request, Done done, bool authenticated = false);

  std::size_t in_flight() const { return in_flight_; }
  std::size_t capacity() const { return queue_size_; }
  std::uint64_t count(OutcomeKind kind) const { return counts_[static_cast<std::size_t>(kind)]; }
  const std::vector<AppStats>& app_stats() const { return stats_; }
  // Pushes refused before an app was settled (wrong secret, unknown app or type), by outcome.
  const std::array<std::uint64_t, kOutcomeKinds>& unresolved() const { return unresolved_; }
  const Provider& provider(std::size_t app_index) const { return *current_->providers.providers[app_index]; }
  // Since start: the current set's counters, the replaced sets' still in flight and the freed ones'.
  ProviderCounters provider_counters() const;

  // Runs fn after a delay on the loop thread (EventLoop::call_after); without one, no throttling.
  using Scheduler = std::function<void(std::chrono::milliseconds, std::function<void()>)>;
  void set_scheduler(Scheduler s) { scheduler_ = std::move(s); }
  std::uint64_t coalesced() const { return coalesced_; }

  // Device registrations (ad-hoc commands); null: token-as-node only. Not owned; it must
  // outlive the dispatcher's use of the loop (its pending answers are dropped when it goes).
  void set_store(StoreWorker* store) { store_ = store; }
  StoreWorker* store() const { return store_; }
  // Pushes waiting for the store's answer to their lookup (not yet in_flight()).
  std::size_t awaiting_store() const { return awaiting_store_; }
  // The app a registration goes to: the form's `app` if configured, else the first app of
  // `service` ("apns"/"fcm"), else the first app. Empty when `app_field` names no app.
  std::optional<std::string> app_for_registration(const std::string& app_field, const std::string& service) const;

 private:
  static constexpr std::size_t kNoApp = static_cast<std::size_t>(-1);
  void dispatch_impl(PushRequest request, Done done, bool authenticated, bool trailing);
  // The rest of a push once its registration (if any) is known: runs against the apps current
  // at that moment, so a reload while the store answered is harmless.
  void route(PushRequest request, std::optional<Registration> registration, Done done, bool authenticated,
             bool trailing, std::chrono::steady_clock::time_point started);
  void fire_trailing(const std::string& key);
  // Trailing-edge throttle per (app, kind, target): the first push goes at once; pushes
  // within the app's throttle_ms are answered Coalesced and the latest goes when it ends.
  struct Throttle {
    std::chrono::steady_clock::time_point last_sent{};
    bool trailing = false;
    PushRequest latest;
  };
  std::unordered_map<std::string, Throttle> throttles_;
  std::chrono::steady_clock::time_point last_sweep_{};
  Scheduler scheduler_;
  std::uint64_t coalesced_ = 0;
  // Logs the push, counts its outcome and answers the front door.
  void finish(const PushRequest& request, std::size_t app, PushKind kind, const Outcome& outcome,
              std::chrono::steady_clock::time_point started, bool reached_provider, const Done& done,
              const char* app_name = nullptr);  // set when `app` indexes no current app (pushed before a reload)

  // One configuration's apps and their providers; the providers hold references into apps.
  struct AppSet {
    std::vector<AppConfig> apps;
    ProviderSet providers;  // declared after apps: freed first
    std::size_t in_flight = 0;
  };
  std::size_t queue_size_;  // [push] queue_size: restart-only
  std::unique_ptr<AppSet> current_;
  std::vector<std::unique_ptr<AppSet>> retired_;  // replaced, with pushes still in flight
  ProviderCounters freed_counters_;               // what the freed sets had counted
  std::size_t in_flight_ = 0;
  std::array<std::uint64_t, kOutcomeKinds> counts_{};
  std::array<std::uint64_t, kOutcomeKinds> unresolved_{};
  std::vector<AppStats> stats_;
  StoreWorker* store_ = nullptr;
  std::size_t awaiting_store_ = 0;
  // Token-as-node tokens a provider called dead, per app: answered TokenDead without asking
  // the provider again until the entry expires (kDeadTokenTtl). Bounded by kMaxDeadTokens.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> dead_tokens_;
  std::uint64_t dead_token_hits_ = 0;

 public:
  static constexpr std::chrono::hours kDeadTokenTtl{24};
  static constexpr std::size_t kMaxDeadTokens = 100000;
  std::uint64_t dead_token_hits() const { return dead_token_hits_; }
};

}  // namespace pushgate
