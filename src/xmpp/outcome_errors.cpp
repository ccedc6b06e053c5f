// The outcome table's XMPP column: Outcome → the IQ reply's error.
#include "xmpp/outcome_errors.hpp"

namespace pushgate::xmpp {

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

}  // namespace pushgate::xmpp
