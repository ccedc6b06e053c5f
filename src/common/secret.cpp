// Secret files, environment secrets and constant-time comparison.
#include "common/secret.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/sha.h>

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

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char ha[SHA256_DIGEST_LENGTH];
  unsigned char hb[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), ha);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), hb);
  // Equal digests with equal lengths: a collision on SHA-256 is not a practical concern.
  return CRYPTO_memcmp(ha, hb, sizeof ha) == 0 && a.size() == b.size();
}

}  // namespace pushgate
