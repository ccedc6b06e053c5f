// The body of POST /push, as the existing gateways take it: JSON or form-encoded, fields
// node, secret, type and optional app. Pure: bytes in, a request or the reason out; fuzzed.
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace pushgate::api {

struct PushBody {
  std::string node;    // device token (or a registered node)
  std::string secret;  // [http] push_secret
  std::string type;    // call | voip | message | alert | background | silent; empty: message
  std::string app;     // empty: the first app
};

// `content_type` picks the format: application/x-www-form-urlencoded is form, anything
// else is JSON. Returns the body, or a sentence naming what is wrong (no field values in it).
std::variant<PushBody, std::string> parse_push_body(std::string_view content_type, std::string_view body);

}  // namespace pushgate::api
