// Key loading and base64url encoding over OpenSSL 3.
#include "common/keys.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace pushgate {

namespace {
// A private key file: it must exist and not be readable by every user. Null when it holds
// no unencrypted PEM key (the caller says what it should have held). `missing_fix` ends the
// message for a file that cannot be read.
EvpKeyPtr read_private_key(const std::string& path, const std::string& missing_fix) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    throw KeyError("key file " + path + " cannot be read: " + std::strerror(errno) + missing_fix);
  }
  if (st.st_mode & S_IROTH) throw KeyError("key file " + path + " is readable by every user; run: chmod o-rwx " + path);
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) throw KeyError("key file " + path + " cannot be opened: " + std::strerror(errno));
  EVP_PKEY* raw = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  ERR_clear_error();
  return EvpKeyPtr(raw);
}
}  // namespace

EvpKeyPtr load_apns_p8_key(const std::string& path) {
  EvpKeyPtr key = read_private_key(path, "; download the .p8 key from the Apple developer account (Keys) and point key_file at it");
  if (!key) {
    throw KeyError("key file " + path + " is not a PEM private key; it must be the .p8 file Apple issued, "
                   "beginning with -----BEGIN PRIVATE KEY-----");
  }
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

long check_certificate_pair(const std::string& cert_file, const std::string& key_file) {
  std::FILE* f = std::fopen(cert_file.c_str(), "r");
  if (f == nullptr) throw KeyError("certificate " + cert_file + " cannot be read: " + std::strerror(errno));
  X509* raw_cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  ERR_clear_error();
  if (raw_cert == nullptr) {
    throw KeyError("certificate " + cert_file + " is not a PEM certificate; it must begin with "
                   "-----BEGIN CERTIFICATE----- (the leaf first, then the chain)");
  }
  std::unique_ptr<X509, decltype(&X509_free)> cert(raw_cert, X509_free);
  EvpKeyPtr key = read_private_key(key_file, "");
  if (!key) throw KeyError("key file " + key_file + " is not an unencrypted PEM private key");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    throw KeyError("key file " + key_file + " does not match certificate " + cert_file +
                   "; point both keys at the pair your CA issued together");
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) > 0) {
    throw KeyError("certificate " + cert_file + " is not valid yet (notBefore is in the future); check the clock");
  }
  int day = 0, sec = 0;
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0 ||
      ASN1_TIME_diff(&day, &sec, nullptr, X509_get0_notAfter(cert.get())) != 1) {
    throw KeyError("certificate " + cert_file + " has expired; renew it and send pushgate SIGHUP");
  }
  return static_cast<long>(day) * 86400 + sec;
}

std::int64_t certificate_not_after(const X509* cert) {
  std::tm tm{};
  if (cert == nullptr || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
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
