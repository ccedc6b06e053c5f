// Secret files, environment secrets and constant-time comparison.
#include "common/secret.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>


namespace pushgate {
namespace {
constexpr size_t kMaxSecretBytes = 4096;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t start = 0;
  while (start < s.size() && (s[start] == ' ' || s[start] == '\t')) ++start;
  return s.substr(start);
}
}  // namespace

std::string read_secret_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    throw SecretError("secret file " + path + " cannot be read: " + std::strerror(errno) +
                      "; create it with the secret on one line and chmod 600");
  }
  if (!S_ISREG(st.st_mode)) throw SecretError("secret file " + path + " is not a regular file");
  if (st.st_mode & S_IROTH) {
    throw SecretError("secret file " + path + " is readable by every user; run: chmod o-rwx " + path);
  }
  if (st.st_size > static_cast<off_t>(kMaxSecretBytes)) {
    throw SecretError("secret file " + path + " is larger than 4 KiB; it must hold the secret on one line");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SecretError("secret file " + path + " cannot be opened: " + std::strerror(errno));
  std::stringstream buf;
  buf << in.rdbuf();
  std::string secret = trim(buf.str());
  if (secret.empty()) throw SecretError("secret file " + path + " is empty; put the secret on its first line");
  if (secret.find('\n') != std::string::npos) {
    throw SecretError("secret file " + path + " holds more than one line; it must hold the secret alone");
  }
  return secret;
}

std::optional<std::string> secret_from_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  std::string secret = trim(v);
  if (secret.empty()) throw SecretError("environment variable " + name + " is set but empty; unset it or give a secret");
  return secret;
}

bool constant_time_equal(std::string_view candidate, std::string_view secret) {
  // Every byte of the secret is visited whatever the candidate holds; the candidate's
  // bytes are read only up to the secret's length. Time depends on the secret's length
  // alone, which is configuration, not something a peer can probe byte by byte.
  unsigned char diff = candidate.size() == secret.size() ? 0 : 1;
  for (std::size_t i = 0; i < secret.size(); ++i) {
    unsigned char c = i < candidate.size() ? static_cast<unsigned char>(candidate[i]) : 0;
    diff |= static_cast<unsigned char>(c ^ static_cast<unsigned char>(secret[i]));
  }
  // Keep the compiler from turning the loop into an early exit.
  volatile unsigned char result = diff;
  return result == 0;
}

}  // namespace pushgate
