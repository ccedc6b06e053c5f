// The dispatcher is the push pipeline from front door to outcome, composed of the pieces in
// push/: the node's registration is looked up in the store (if there is one), the resolver
// settles the app and kind, the dead-token list, the throttle and the in-flight bound may
// answer at once, and the provider of the current app set gets the job. Each push is logged
// and counted (push_stats) and answered exactly once.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "push/app_sets.hpp"
#include "push/dead_tokens.hpp"
#include "push/inflight.hpp"
#include "push/outcome.hpp"
#include "push/provider.hpp"
#include "push/providers.hpp"
#include "push/push_stats.hpp"
#include "push/resolver.hpp"
#include "push/throttle.hpp"
#include "store/registration_store.hpp"
#include "store/store_worker.hpp"

namespace pushgate {

class Dispatcher {
 public:
  using Done = std::function<void(const Outcome&)>;
  using ProviderFactory = AppSets::ProviderFactory;

  // Serves config.apps with at most config.push.queue_size pushes in flight; both are copied.
  // `providers[i]` serves `config.apps[i]` and keeps no reference to it (tests).
  Dispatcher(const Config& config, std::vector<std::unique_ptr<Provider>> providers);
  // The providers are made over the dispatcher's own copy of config.apps.
  Dispatcher(const Config& config, const ProviderFactory& make);

  // A configuration reload: new pushes go to `apps` and the providers `make` builds for them;
  // pushes in flight finish on the old set, which release_retired() frees once they have. An
  // app keeps its statistics when its name stays. When `make` throws, nothing changes and the
  // exception passes on. Loop thread only.
  void replace_apps(std::vector<AppConfig> apps, const ProviderFactory& make);
  // Frees replaced sets whose pushes have all finished. Call between loop turns, never from a
  // provider's completion (the provider would be freed under its own feet).
  void release_retired() { sets_.release_retired(); }
  std::size_t retired_sets() const { return sets_.retired(); }

  const std::vector<AppConfig>& apps() const { return sets_.current().apps; }
  const ProviderSet& providers() const { return sets_.current().providers; }

  // Calls `done` exactly once, on the loop thread: at once for a refused push or a full
  // queue, else when the provider reports. With a store, the node is looked up on the store's
  // worker first: a store that fails, is too busy or does not answer within its deadline makes
  // the push Retry (QueueFull when its queue is full). `authenticated`: see resolve_token_as_node().
  void dispatch(PushRequest request, Done done, bool authenticated = false);

  std::size_t in_flight() const { return in_flight_.count(); }
  std::size_t capacity() const { return in_flight_.capacity(); }
  std::uint64_t count(OutcomeKind kind) const { return stats_.count(kind); }
  const std::vector<AppStats>& app_stats() const { return stats_.apps(); }
  // Pushes refused before an app was settled (wrong secret, unknown app or type), by outcome.
  const std::array<std::uint64_t, kOutcomeKinds>& unresolved() const { return stats_.unresolved(); }
  const Provider& provider(std::size_t app_index) const { return *providers().providers[app_index]; }
  // Since start: the current set's counters, the replaced sets' still in flight and the freed ones'.
  ProviderCounters provider_counters() const { return sets_.counters(); }

  // Runs fn after a delay on the loop thread (EventLoop::call_after); without one, no throttling.
  using Scheduler = std::function<void(std::chrono::milliseconds, std::function<void()>)>;
  void set_scheduler(Scheduler s) { scheduler_ = std::move(s); }
  std::uint64_t coalesced() const { return throttle_.coalesced(); }
  std::uint64_t dead_token_hits() const { return dead_tokens_.hits(); }

  // The registration store publishes are looked up in, which also shares the token-as-node
  // dead-token list between nodes (the lookup brings the node's marks along; the in-memory
  // list caches them); null: token-as-node only, the list in memory alone. Not owned;
  // it must outlive the dispatcher's use of the loop (its pending answers are dropped when it
  // goes).
  void set_store(StoreWorker* store) { store_ = store; }
  // Pushes waiting for the store's answer to their lookup (not yet in_flight()).
  std::size_t awaiting_store() const { return awaiting_store_; }

 private:
  static constexpr std::size_t kNoApp = PushStats::kGone;
  using TimePoint = std::chrono::steady_clock::time_point;
  void dispatch_impl(PushRequest request, Done done, bool authenticated, bool trailing);
  // The rest of a push once its registration (if any) is known: runs against the apps current
  // at that moment, so a reload while the store answered is harmless.
  // `dead`: the apps the shared store has the node (as a token) dead for.
  void route(PushRequest request, std::optional<Registration> registration, const std::vector<DeadToken>& dead,
             Done done, bool authenticated, bool trailing, TimePoint started);
  // Hands a push that passed every check (and holds a place in flight) to its provider.
  void send(PushRequest request, const std::optional<Registration>& registration, Resolved resolved, TimePoint started,
            Done done);
  void fire_trailing(const std::string& key);
  // A token-as-node token the provider called dead goes into the store, so that every node
  // sharing it stops pushing to it; a failed write is tried again every second (with a
  // scheduler) for kShareAttempts, then given up with a warning (the provider tells the other
  // nodes itself, one push each).
  void share_dead_token(const std::string& app, const std::string& token, std::int64_t until_ms, unsigned attempt);
  static constexpr unsigned kShareAttempts = 60;
  static constexpr std::size_t kMaxSharesWaiting = 1000;
  // A registered device's token is dead: its registration goes, unless it registered again since.
  void forget_registration(const std::string& domain, const std::string& node, const Outcome& outcome,
                           std::int64_t dispatched_ms);
  // Logs the push, counts its outcome and answers the front door. `app` indexes the current
  // apps, or is kNoApp: refused before an app was settled, or (with `app_name`) sent to an app
  // a reload has removed since.
  void finish(const PushRequest& request, std::size_t app, PushKind kind, const Outcome& outcome, TimePoint started,
              bool reached_provider, const Done& done, const char* app_name = nullptr);

  AppSets sets_;
  PushStats stats_;
  DeadTokens dead_tokens_;
  Throttle throttle_;
  InFlight in_flight_;
  Scheduler scheduler_;
  StoreWorker* store_ = nullptr;
  std::size_t awaiting_store_ = 0;
  std::size_t shares_waiting_ = 0;  // dead tokens waiting to be written again
};

}  // namespace pushgate
