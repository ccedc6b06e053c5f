// Push kinds and their names on the wire.
#include "push/push_request.hpp"

namespace pushgate {

const char* to_string(PushKind kind) {
  switch (kind) {
    case PushKind::Alert: return "alert";
    case PushKind::Voip: return "voip";
    case PushKind::Background: return "background";
  }
  return "alert";
}

std::optional<PushKind> parse_push_kind(std::string_view text) {
  if (text == "voip" || text == "call") return PushKind::Voip;
  if (text == "message" || text == "alert") return PushKind::Alert;
  if (text == "background" || text == "silent") return PushKind::Background;
  return std::nullopt;
}

}  // namespace pushgate
