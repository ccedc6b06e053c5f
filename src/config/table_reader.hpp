// Reading one TOML table of the configuration: typed getters that name the key, its line and
// the fix on a wrong value, and unknown keys refused with the closest known one suggested.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

namespace pushgate {

// The candidate within edit distance 2 of `key`, the closest; "" when none is that close.
std::string closest(const std::string& key, const std::set<std::string>& candidates);

// Reads one table, remembering which keys were asked for; finish() rejects the rest. Every
// getter returns nullopt when the key is absent and throws ConfigError (through fail()) when
// its value has the wrong type.
class TableReader {
 public:
  // `where` names the table in messages ("[http]", "[[app]] 'ios'"), `source` the file. The
  // line of each key the table holds goes into `lines` as "<where> <key>".
  TableReader(const toml::table& table, std::string where, const std::string& source,
              std::map<std::string, int>& lines);

  // Throws ConfigError "source:line: where key: why", the line when the key is written; when
  // it is not, a key of the table that looks like its typo is named.
  [[noreturn]] void fail(const std::string& key, const std::string& why) const;

  // A string; "${CREDENTIALS_DIRECTORY}" in it becomes the directory systemd's
  // LoadCredential= fills, so a unit can hand secrets over without a readable copy in /etc.
  std::optional<std::string> str(const std::string& key);
  std::optional<std::int64_t> integer(const std::string& key);
  // A list of non-empty strings.
  std::optional<std::vector<std::string>> strings(const std::string& key);
  std::optional<bool> boolean(const std::string& key);
  // A string that must be one of `names` (the file's spelling of each enum value); another
  // fails with "must be "a", "b" or "c"".
  template <typename E, std::size_t N>
  std::optional<E> choice(const std::string& key, const std::array<std::pair<E, const char*>, N>& names) {
    auto v = str(key);
    if (!v) return std::nullopt;
    for (const auto& [value, name] : names) {
      if (*v == name) return value;
    }
    std::string list;
    for (std::size_t i = 0; i < N; ++i) {
      list += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + "\"" + names[i].second + "\"";
    }
    fail(key, "must be " + list);
  }

  // Throws ConfigError for the first key no getter asked for, suggesting the closest one.
  void finish() const;

 private:
  const toml::table& table_;
  std::string where_;
  const std::string& source_;
  std::set<std::string> known_;
};

}  // namespace pushgate
