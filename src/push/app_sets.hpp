// The apps pushes go to and their providers, across configuration reloads: the current set
// takes new pushes; a set a reload replaced stays until the pushes it holds have finished,
// then release_retired() frees it and keeps what its providers had counted, so the counters
// of /metrics never fall back when a reload rebuilds the providers. Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "push/providers.hpp"

namespace pushgate {

// Counters of the providers' own work, summed over provider sets.
struct ProviderCounters {
  std::uint64_t connections_opened = 0;  // HTTP/2 connections to providers
  std::uint64_t goaways = 0;
  std::uint64_t requeued = 0;
  std::map<std::string, std::uint64_t> retries;        // by app name
  std::map<std::string, std::uint64_t> token_failures; // by app name (Provider::token_failures)
  std::map<std::string, std::uint64_t> token_mints;    // APNs provider tokens, by "team/key id"
  std::map<std::string, std::uint64_t> token_fetches;  // FCM access tokens, by project
  void add(const std::vector<AppConfig>& apps, const ProviderSet& set);
};

class AppSets {
 public:
  // Makes the providers for a list of apps; providers[i] serves apps[i] and may keep a
  // reference to it. May throw (an unreadable key), naming the app.
  using ProviderFactory = std::function<ProviderSet(const std::vector<AppConfig>&)>;

  // One configuration's apps and their providers; the providers hold references into apps,
  // which never move.
  struct Set {
    std::vector<AppConfig> apps;
    ProviderSet providers;      // declared after apps: freed first
    std::size_t in_flight = 0;  // pushes its providers hold
  };

  // The first set: `make` builds the providers over this object's own copy of `apps`.
  AppSets(std::vector<AppConfig> apps, const ProviderFactory& make);

  Set& current() { return *current_; }
  const Set& current() const { return *current_; }
  bool is_current(const Set* set) const { return set == current_.get(); }
  // The index of the current app named `name`, or npos.
  std::size_t index_of(const std::string& name) const;

  // A reload: `apps` and the providers `make` builds for them become current; the old set is
  // retired. When `make` throws, nothing changes and the exception passes on.
  void replace(std::vector<AppConfig> apps, const ProviderFactory& make);
  // Frees retired sets that hold no push. Call between loop turns, never from a provider's
  // completion (the provider would be freed under its own feet).
  void release_retired();
  std::size_t retired() const { return retired_.size(); }

  // Since start: the current set's counters, the retired sets' and the freed ones'.
  ProviderCounters counters() const;

 private:
  std::unique_ptr<Set> current_;
  std::vector<std::unique_ptr<Set>> retired_;  // replaced, with pushes still in flight
  ProviderCounters freed_;                     // what the freed sets had counted
};

}  // namespace pushgate
