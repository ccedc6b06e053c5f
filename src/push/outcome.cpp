// Outcome names and the one question about an outcome the pipeline and providers share.
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

bool about_one_device(const Outcome& outcome) {
  return outcome.kind == OutcomeKind::OperatorError && (outcome.reason.rfind("DeviceTokenNotForTopic", 0) == 0 ||
                                                        outcome.reason.rfind("SENDER_ID_MISMATCH", 0) == 0);
}

}  // namespace pushgate
