// The dispatcher owns a push from front door to outcome: it looks the node up in the store,
// has the resolver settle the app and kind, lets the dead-token list, the throttle and the
// in-flight bound (push/dead_tokens, push/throttle, push/inflight) answer at once, and hands
// the job to the provider; it keeps the app sets across reloads and the statistics.
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
#include "push/dead_tokens.hpp"
#include "push/inflight.hpp"
#include "push/outcome.hpp"
#include "push/provider.hpp"
#include "push/providers.hpp"
#include "push/resolver.hpp"
#include "push/throttle.hpp"
#include "store/registration_store.hpp"
#include "store/store_worker.hpp"

namespace pushgate {

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

  // Serves config.apps with at most config.push.queue_size pushes in flight; both are copied.
  // `providers[i]` serves `config.apps[i]` and keeps no reference to it (tests).
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

  std::size_t in_flight() const { return in_flight_.count(); }
  std::size_t capacity() const { return in_flight_.capacity(); }
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
  std::uint64_t coalesced() const { return throttle_.coalesced(); }
  std::uint64_t dead_token_hits() const { return dead_tokens_.hits(); }

  // The registration store publishes are looked up in; null: token-as-node only. Not owned;
  // it must outlive the dispatcher's use of the loop (its pending answers are dropped when it
  // goes).
  void set_store(StoreWorker* store) { store_ = store; }
  // Pushes waiting for the store's answer to their lookup (not yet in_flight()).
  std::size_t awaiting_store() const { return awaiting_store_; }

 private:
  static constexpr std::size_t kNoApp = static_cast<std::size_t>(-1);
  void dispatch_impl(PushRequest request, Done done, bool authenticated, bool trailing);
  // The rest of a push once its registration (if any) is known: runs against the apps current
  // at that moment, so a reload while the store answered is harmless.
  void route(PushRequest request, std::optional<Registration> registration, Done done, bool authenticated,
             bool trailing, std::chrono::steady_clock::time_point started);
  void fire_trailing(const std::string& key);
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
  std::unique_ptr<AppSet> current_;
  std::vector<std::unique_ptr<AppSet>> retired_;  // replaced, with pushes still in flight
  ProviderCounters freed_counters_;               // what the freed sets had counted
  std::array<std::uint64_t, kOutcomeKinds> counts_{};
  std::array<std::uint64_t, kOutcomeKinds> unresolved_{};
  std::vector<AppStats> stats_;
  StoreWorker* store_ = nullptr;
  std::size_t awaiting_store_ = 0;
  DeadTokens dead_tokens_;
  Throttle throttle_;
  InFlight in_flight_;
  Scheduler scheduler_;
};

}  // namespace pushgate
