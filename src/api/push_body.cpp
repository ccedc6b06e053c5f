// Parsing POST /push bodies.
#include "api/push_body.hpp"

#include <nlohmann/json.hpp>

namespace pushgate::api {
namespace {

constexpr std::size_t kMaxField = 4096;

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding; false on a broken %-escape.
bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size() || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0) return false;
      out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

std::string* field_of(PushBody& b, std::string_view key) {
  if (key == "node" || key == "token") return &b.node;  // `token` as p2's REST API names it
  if (key == "secret") return &b.secret;
  if (key == "type") return &b.type;
  if (key == "app") return &b.app;
  return nullptr;  // unknown fields are ignored, as the gateways we replace do
}

Result<PushBody> check(PushBody b) {
  if (b.node.empty()) return Error{"field \"node\" is missing: the device token to push to", ""};
  if (b.secret.empty()) return Error{"field \"secret\" is missing: the [http] push secret", ""};
  for (const std::string* f : {&b.node, &b.secret, &b.type, &b.app}) {
    if (f->size() > kMaxField) return Error{"a field is longer than 4096 bytes", ""};
  }
  // Device tokens and registered nodes are printable ASCII: anything else (a NUL, bytes that
  // are not UTF-8) is refused here rather than handed to the store, which would fail on it.
  for (char c : b.node) {
    if (c <= 0x20 || c >= 0x7f) {
      return Error{"field \"node\" must be a device token or a registered node: printable ASCII, no spaces", ""};
    }
  }
  return b;
}

}  // namespace

Result<PushBody> parse_push_body(std::string_view content_type, std::string_view body) {
  PushBody b;
  if (content_type.substr(0, 33) == "application/x-www-form-urlencoded") {
    std::string key, value;
    while (!body.empty()) {
      std::size_t amp = body.find('&');
      std::string_view pair = body.substr(0, amp);
      body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
      if (pair.empty()) continue;
      std::size_t eq = pair.find('=');
      if (!url_decode(pair.substr(0, eq), key) ||
          !url_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), value)) {
        return Error{"the form body has a broken %-escape",
                     "write each byte outside A-Z a-z 0-9 as %XX (curl --data-urlencode does)"};
      }
      if (std::string* f = field_of(b, key)) *f = value;
    }
    return check(std::move(b));
  }
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded())
    return Error{"the body is not valid JSON (or use Content-Type: application/x-www-form-urlencoded)", ""};
  if (!j.is_object())
    return Error{"the body must be a JSON object like {\"node\":…,\"secret\":…,\"type\":\"call\"}", ""};
  for (auto& [k, v] : j.items()) {
    std::string* f = field_of(b, k);
    if (f == nullptr) continue;
    if (!v.is_string()) return Error{"field \"" + k + "\" must be a string", "put its value in double quotes"};
    *f = v.get<std::string>();
  }
  return check(std::move(b));
}

}  // namespace pushgate::api
