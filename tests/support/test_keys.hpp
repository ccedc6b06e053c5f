// Keys made by the tests themselves (never committed secrets): a fresh P-256 key written as
// a PKCS#8 PEM file, like Apple's .p8, a service-account JSON with a fresh RSA key, and JWT
// decoding and ES256 checking helpers.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/pem.h>

#include "common/keys.hpp"

namespace pushgate::test {

inline EvpKeyPtr new_p256_key() { return EvpKeyPtr(EVP_EC_gen("P-256")); }

// Writes `key` as "-----BEGIN PRIVATE KEY-----" PEM with mode 0600; returns the path.
inline std::string write_p8(EVP_PKEY* key, mode_t mode = 0600) {
  char tmpl[] = "/tmp/pushgate-p8-XXXXXX";
  int fd = mkstemp(tmpl);
  std::FILE* f = fdopen(fd, "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  chmod(tmpl, mode);
  return tmpl;
}

// A Firebase-style service-account JSON with a fresh RSA-2048 key, written with `mode`.
// Returns the path; the key's public half is written beside it as <path>.pub.pem.
inline std::string write_service_account(const std::string& token_uri, mode_t mode = 0600,
                                         const std::string& project_id = "demo-project") {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  std::string escaped;
  for (char c : pem) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
  char tmpl[] = "/tmp/pushgate-sa-XXXXXX";
  int fd = mkstemp(tmpl);
  std::FILE* f = fdopen(fd, "w");
  std::fprintf(f,
               "{\"type\": \"service_account\", \"project_id\": \"%s\", \"private_key_id\": \"k1\", "
               "\"private_key\": \"%s\", \"client_email\": \"pushgate@%s.iam.gserviceaccount.com\", "
               "\"token_uri\": \"%s\"}\n",
               project_id.c_str(), escaped.c_str(), project_id.c_str(), token_uri.c_str());
  std::fclose(f);
  chmod(tmpl, mode);
  std::FILE* pub = std::fopen((std::string(tmpl) + ".pub.pem").c_str(), "w");
  PEM_write_PUBKEY(pub, key);
  std::fclose(pub);
  EVP_PKEY_free(key);
  return tmpl;
}

inline std::string base64url_decode(const std::string& in) {
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    int d;
    if (c >= 'A' && c <= 'Z') d = c - 'A';
    else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
    else if (c >= '0' && c <= '9') d = c - '0' + 52;
    else if (c == '-') d = 62;
    else if (c == '_') d = 63;
    else return "<invalid>";
    val = (val << 6) | d;
    bits += 6;
    if (bits >= 0) {
      out += static_cast<char>((val >> bits) & 0xFF);
      bits -= 8;
    }
  }
  return out;
}

// Verifies a JWS ES256 signature (r || s) over header.claims with the key's public half.
inline bool verify_es256(EVP_PKEY* key, const std::string& jwt) {
  auto dot2 = jwt.rfind('.');
  std::string input = jwt.substr(0, dot2);
  std::string raw = base64url_decode(jwt.substr(dot2 + 1));
  if (raw.size() != 64) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, der, static_cast<size_t>(der_len), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  return ok;
}

}  // namespace pushgate::test
