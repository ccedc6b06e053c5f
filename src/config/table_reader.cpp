// Typed reads of one TOML table, with the key, its line and the fix in every error, and the
// typo suggestions that keep a misspelt key from silently turning a setting off.
#include "config/table_reader.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "config/config.hpp"

namespace pushgate {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string closest(const std::string& key, const std::set<std::string>& candidates) {
  std::string best;
  size_t best_d = 3;
  for (const auto& cand : candidates) {
    size_t d = edit_distance(key, cand);
    if (d < best_d) {
      best_d = d;
      best = cand;
    }
  }
  return best;
}

TableReader::TableReader(const toml::table& table, std::string where, const std::string& source,
                         std::map<std::string, int>& lines)
    : table_(table), where_(std::move(where)), source_(source) {
  for (const auto& [k, v] : table_)
    lines[where_ + " " + std::string(k.str())] = static_cast<int>(v.source().begin.line);
}

void TableReader::fail(const std::string& key, const std::string& why) const {
  std::string at = source_;
  if (const toml::node* n = table_.get(key)) at += ":" + std::to_string(n->source().begin.line);
  std::string hint;
  if (table_.get(key) == nullptr) {
    // A required key that is missing is often a typo of it further down the table.
    for (const auto& [k, v] : table_) {
      std::string other(k.str());
      if (other != key && closest(other, {key}) == key) {
        hint = "; '" + other + "' on line " + std::to_string(v.source().begin.line) + " looks like a typo of '" + key +
               "'";
      }
    }
  }
  throw ConfigError(at + ": " + where_ + " " + key + ": " + why + hint);
}

std::optional<std::string> TableReader::str(const std::string& key) {
  known_.insert(key);
  const toml::node* n = table_.get(key);
  if (n == nullptr) return std::nullopt;
  if (!n->is_string()) fail(key, "must be a string in quotes");
  std::string v = n->as_string()->get();
  static const std::string kCredentials = "${CREDENTIALS_DIRECTORY}";
  for (auto at = v.find(kCredentials); at != std::string::npos; at = v.find(kCredentials, at)) {
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (dir == nullptr || *dir == '\0') {
      fail(key,
           "uses ${CREDENTIALS_DIRECTORY}, which systemd sets for a unit with LoadCredential=; it is not set "
           "here: run pushgate from its unit, or for a manual --check set "
           "CREDENTIALS_DIRECTORY=/etc/pushgate/credentials");
    }
    v.replace(at, kCredentials.size(), dir);
    at += std::strlen(dir);
  }
  return v;
}

std::optional<std::int64_t> TableReader::integer(const std::string& key) {
  known_.insert(key);
  const toml::node* n = table_.get(key);
  if (n == nullptr) return std::nullopt;
  if (!n->is_integer()) fail(key, "must be a whole number");
  return n->as_integer()->get();
}

std::optional<std::vector<std::string>> TableReader::strings(const std::string& key) {
  known_.insert(key);
  const toml::node* n = table_.get(key);
  if (n == nullptr) return std::nullopt;
  const toml::array* arr = n->as_array();
  if (arr == nullptr) fail(key, "must be a list of strings, e.g. [\"example.org\"]");
  std::vector<std::string> out;
  for (const auto& e : *arr) {
    if (!e.is_string() || e.as_string()->get().empty()) fail(key, "must be a list of non-empty strings");
    out.push_back(e.as_string()->get());
  }
  return out;
}

std::optional<bool> TableReader::boolean(const std::string& key) {
  known_.insert(key);
  const toml::node* n = table_.get(key);
  if (n == nullptr) return std::nullopt;
  if (!n->is_boolean()) fail(key, "must be true or false");
  return n->as_boolean()->get();
}

void TableReader::finish() const {
  for (const auto& [k, v] : table_) {
    std::string key(k.str());
    if (known_.count(key)) continue;
    std::string best = closest(key, known_);
    std::string msg =
        source_ + ":" + std::to_string(v.source().begin.line) + ": unknown key '" + key + "' in " + where_;
    msg +=
        best.empty() ? "; remove it (see deploy/pushgate.toml.example for the keys)" : "; did you mean '" + best + "'?";
    throw ConfigError(msg);
  }
}

}  // namespace pushgate
