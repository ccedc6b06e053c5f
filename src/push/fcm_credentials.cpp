// Service-account JSON → the fields FCM's OAuth2 flow needs.
#include "push/fcm_credentials.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

namespace pushgate {

FcmServiceAccount parse_fcm_service_account(std::string_view json, const std::string& source) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  const std::string fix = "; download a new key in the Firebase console (Project settings → Service accounts → "
                          "Generate new private key)";
  if (!j.is_object()) throw KeyError(source + " is not a JSON object" + fix);
  auto field = [&](const char* name, bool required) -> std::string {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
      if (required) throw KeyError(source + ": field \"" + name + "\" is missing" + fix);
      return {};
    }
    if (!it->is_string() || (required && it->get_ref<const std::string&>().empty())) {
      throw KeyError(source + ": field \"" + name + "\" must be a non-empty string" + fix);
    }
    return it->get<std::string>();
  };
  if (std::string type = field("type", true); type != "service_account") {
    throw KeyError(source + ": field \"type\" is \"" + type.substr(0, 40) +
                   "\", not \"service_account\": this is not a service-account key" + fix);
  }
  FcmServiceAccount sa;
  sa.project_id = field("project_id", true);
  if (sa.project_id.size() > 100 || sa.project_id.find_first_of("/?# ") != std::string::npos) {
    throw KeyError(source + ": field \"project_id\" is not a Firebase project id");
  }
  sa.client_email = field("client_email", true);
  if (sa.client_email.find('@') == std::string::npos) {
    throw KeyError(source + ": field \"client_email\" is not an e-mail address" + fix);
  }
  sa.private_key_id = field("private_key_id", false);
  sa.token_uri = field("token_uri", true);
  if (sa.token_uri.rfind("https://", 0) != 0) {
    throw KeyError(source + ": field \"token_uri\" must be an https:// URL (Google's is https://oauth2.googleapis.com/token)");
  }
  std::string pem = field("private_key", true);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  EVP_PKEY* raw = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  ERR_clear_error();
  if (raw == nullptr) {
    throw KeyError(source + ": field \"private_key\" is not a PEM private key (-----BEGIN PRIVATE KEY-----…)" + fix);
  }
  sa.key.reset(raw);
  if (EVP_PKEY_get_base_id(raw) != EVP_PKEY_RSA || EVP_PKEY_get_bits(raw) < 2048) {
    throw KeyError(source + ": field \"private_key\" is not an RSA key of 2048 bits or more, as Google issues" + fix);
  }
  return sa;
}

FcmServiceAccount load_fcm_service_account(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    throw KeyError("credentials file " + path + " cannot be read: " + std::strerror(errno) +
                   "; download the service-account JSON from the Firebase console and point credentials_file at it");
  }
  if (st.st_mode & S_IROTH) throw KeyError("credentials file " + path + " is readable by every user; run: chmod o-rwx " + path);
  if (st.st_size > 64 * 1024) throw KeyError("credentials file " + path + " is larger than 64 KiB: not a service-account key");
  std::ifstream in(path);
  if (!in) throw KeyError("credentials file " + path + " cannot be opened: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_fcm_service_account(ss.str(), "credentials file " + path);
}

}  // namespace pushgate
