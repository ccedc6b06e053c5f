// The outcome table from DESIGN.md, in one place for both front doors.
#include "push/outcome.hpp"

namespace pushgate {

const char* to_string(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::Delivered: return "delivered";
    case OutcomeKind::Coalesced: return "coalesced";
    case OutcomeKind::TokenDead: return "token_dead";
    case OutcomeKind::UnknownNode: return "unknown_node";
    case OutcomeKind::Forbidden: return "forbidden";
    case OutcomeKind::BadRequest: return "bad_request";
    case OutcomeKind::Retry: return "retry";
    case OutcomeKind::QueueFull: return "queue_full";
    case OutcomeKind::OperatorError: return "operator_error";
  }
  return "retry";
}

XmppErrorCondition xmpp_error_for(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::Delivered:
    case OutcomeKind::Coalesced: return {"", ""};
    case OutcomeKind::TokenDead:
    case OutcomeKind::UnknownNode: return {"cancel", "item-not-found"};
    case OutcomeKind::Forbidden: return {"auth", "forbidden"};
    case OutcomeKind::BadRequest: return {"modify", "bad-request"};
    case OutcomeKind::QueueFull: return {"wait", "resource-constraint"};
    // An operator mistake must never look like a dead device: Prosody keeps the registration.
    case OutcomeKind::Retry:
    case OutcomeKind::OperatorError: return {"wait", "internal-server-error"};
  }
  return {"wait", "internal-server-error"};
}

int http_status_for(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::Delivered: return 200;
    case OutcomeKind::Coalesced: return 202;
    case OutcomeKind::TokenDead: return 410;
    case OutcomeKind::UnknownNode: return 404;
    case OutcomeKind::Forbidden: return 403;
    case OutcomeKind::BadRequest: return 400;
    case OutcomeKind::Retry: return 503;
    case OutcomeKind::QueueFull: return 503;
    case OutcomeKind::OperatorError: return 502;
  }
  return 503;
}

bool about_one_device(const Outcome& outcome) {
  return outcome.kind == OutcomeKind::OperatorError && (outcome.reason.rfind("DeviceTokenNotForTopic", 0) == 0 ||
                                                        outcome.reason.rfind("SENDER_ID_MISMATCH", 0) == 0);
}

}  // namespace pushgate
