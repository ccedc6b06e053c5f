// Secrets: read from files an operator controls or from PUSHGATE_* environment variables,
// never defaulted, and compared in constant time.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pushgate {

struct SecretError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reads a secret file: one line, trailing newline and spaces removed.
// Throws SecretError naming the path and the fix when the file is missing, unreadable,
// readable by everyone (mode o+r), empty or larger than 4 KiB.
std::string read_secret_file(const std::string& path);

// The value of environment variable `name` trimmed as above, or nullopt when unset.
// An empty value throws SecretError (an empty secret is never valid).
std::optional<std::string> secret_from_env(const std::string& name);

// True when candidate == secret. Runs in time independent of where they differ and of
// the candidate's length, so a remote peer cannot learn the secret byte by byte.
bool constant_time_equal(std::string_view candidate, std::string_view secret);

}  // namespace pushgate
