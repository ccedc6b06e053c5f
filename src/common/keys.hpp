// Keys and certificates: the APNs .p8 key, loaded with OpenSSL and checked for its curve; a
// TLS certificate and its key checked as a pair; and base64url for JWTs. Errors name the file
// and the fix.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace pushgate {

struct KeyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct EvpKeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using EvpKeyPtr = std::unique_ptr<EVP_PKEY, EvpKeyDeleter>;

// Reads an Apple .p8 key (PKCS#8 PEM, EC P-256). Throws KeyError when the file is missing,
// readable by everyone, not PEM, or not a P-256 key.
EvpKeyPtr load_apns_p8_key(const std::string& path);

// Checks a TLS certificate (PEM, the leaf first) and its private key: both parse, the key
// is not readable by every user, the key matches the certificate, and the certificate is
// valid now. Throws KeyError naming the file and the fix. Returns the seconds until the
// certificate expires, so callers can warn ahead of time.
long check_certificate_pair(const std::string& cert_file, const std::string& key_file);

// The certificate's notAfter as epoch seconds (UTC), for the expiry /metrics reports; 0 for a
// null certificate or a notAfter OpenSSL cannot read.
std::int64_t certificate_not_after(const X509* cert);

// OpenSSL's first queued error as text (the queue is cleared), for messages that name the cause.
std::string openssl_error();

// base64url without padding (RFC 7515), as JWTs use it.
std::string base64url(const unsigned char* data, std::size_t size);
inline std::string base64url(const std::string& s) {
  return base64url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

}  // namespace pushgate
