// Key loading and base64url encoding over OpenSSL 3.
#include "common/keys.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

namespace pushgate {

EvpKeyPtr load_apns_p8_key(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    throw KeyError("key file " + path + " cannot be read: " + std::strerror(errno) +
                   "; download the .p8 key from the Apple developer account (Keys) and point key_file at it");
  }
  if (st.st_mode & S_IROTH) throw KeyError("key file " + path + " is readable by every user; run: chmod o-rwx " + path);
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) throw KeyError("key file " + path + " cannot be opened: " + std::strerror(errno));
  EVP_PKEY* raw = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  ERR_clear_error();
  if (raw == nullptr) {
    throw KeyError("key file " + path + " is not a PEM private key; it must be the .p8 file Apple issued, "
                   "beginning with -----BEGIN PRIVATE KEY-----");
  }
  EvpKeyPtr key(raw);
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1 ||
      std::strcmp(group, "prime256v1") != 0) {
    throw KeyError("key file " + path + " is not an EC P-256 key; APNs token authentication needs the .p8 key "
                   "(ES256) from the Apple developer account, not a certificate key");
  }
  return key;
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string base64url(const unsigned char* data, std::size_t size) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((size * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 2 < size; i += 3) {
    unsigned v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (size - i == 1) {
    unsigned v = data[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (size - i == 2) {
    unsigned v = (data[i] << 16) | (data[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

}  // namespace pushgate
