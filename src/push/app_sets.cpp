// The current and retired app sets, and the provider counters that outlive them.
#include "push/app_sets.hpp"

namespace pushgate {

void ProviderCounters::add(const std::vector<AppConfig>& apps, const ProviderSet& set) {
  if (set.http) {
    connections_opened += set.http->connections_opened();
    goaways += set.http->goaways();
    requeued += set.http->requeued();
  }
  for (std::size_t i = 0; i < set.providers.size() && i < apps.size(); ++i) {
    retries[apps[i].name] += set.providers[i]->retries();
    token_failures[apps[i].name] += set.providers[i]->token_failures();
  }
  for (const auto& [id, signer] : set.signers) {
    // The map key is team/key id/key file: the label keeps team/key id.
    token_mints[id.substr(0, id.find('/', id.find('/') + 1))] += signer->mints();
  }
  for (const auto& [file, tokens] : set.fcm_tokens) token_fetches[tokens->project_id()] += tokens->fetches();
}

AppSets::AppSets(std::vector<AppConfig> apps, const ProviderFactory& make) : current_(std::make_unique<Set>()) {
  current_->apps = std::move(apps);
  current_->providers = make(current_->apps);
}

std::size_t AppSets::index_of(const std::string& name) const {
  std::size_t index = static_cast<std::size_t>(-1);
  for (std::size_t i = 0; i < current_->apps.size(); ++i) {
    if (current_->apps[i].name == name) index = i;
  }
  return index;
}

void AppSets::replace(std::vector<AppConfig> apps, const ProviderFactory& make) {
  auto next = std::make_unique<Set>();
  next->apps = std::move(apps);
  next->providers = make(next->apps);  // the providers refer to next->apps, which never moves
  retired_.push_back(std::move(current_));
  current_ = std::move(next);
  // The old set is freed by release_retired() between loop turns, never here: a reload runs
  // inside a turn, and a callback of the old set's providers may be on the stack.
}

void AppSets::release_retired() {
  std::erase_if(retired_, [this](const std::unique_ptr<Set>& set) {
    if (set->in_flight != 0) return false;
    freed_.add(set->apps, set->providers);
    return true;
  });
}

ProviderCounters AppSets::counters() const {
  ProviderCounters total = freed_;
  for (const auto& set : retired_) total.add(set->apps, set->providers);
  total.add(current_->apps, current_->providers);
  return total;
}

}  // namespace pushgate
