// The Firebase service account: the JSON file Google issues (project id, client email, RSA
// private key, token URI), loaded and checked field by field so an operator learns which
// field is wrong.
#pragma once

#include <string>
#include <string_view>

#include "common/keys.hpp"

namespace pushgate {

struct FcmServiceAccount {
  std::string project_id;
  std::string client_email;
  std::string private_key_id;  // the JWT's kid; may be empty
  std::string token_uri;       // where the OAuth2 assertion is exchanged
  EvpKeyPtr key;               // RSA
};

// Parses the service-account JSON. `source` names it in errors. Throws KeyError naming the
// field and the fix. Pure apart from OpenSSL; fuzzable.
FcmServiceAccount parse_fcm_service_account(std::string_view json, const std::string& source);

// Reads and parses the file. Throws KeyError when it is missing, readable by everyone,
// larger than 64 KiB, or malformed (see above).
FcmServiceAccount load_fcm_service_account(const std::string& path);

}  // namespace pushgate
