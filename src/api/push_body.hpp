// The body of POST /push, as the existing gateways take it: JSON or form-encoded, fields
// node, secret, type and optional app. Pure: bytes in, a request or the Error out; fuzzed.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace pushgate::api {

struct PushBody {
  std::string node;    // device token (or a registered node)
  std::string secret;  // [http] push_secret
  std::string type;    // call | voip | message | alert | background | silent; empty: message
  std::string app;     // empty: the first app
};

// `content_type` picks the format: application/x-www-form-urlencoded is form, anything
// else is JSON. Returns the body, or an Error naming what is wrong and, where there is one,
// how to write it instead (no field values in either).
Result<PushBody> parse_push_body(std::string_view content_type, std::string_view body);

}  // namespace pushgate::api
