// The outcome table's HTTP column: Outcome → the status of POST /push.
#include "api/outcome_status.hpp"

namespace pushgate::api {

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

}  // namespace pushgate::api
