// Where a push's Outcome becomes the answer the local API's caller reads: the HTTP status of
// POST /push (the README's outcome table, the HTTP column). An APNs 410 or FCM UNREGISTERED
// (TokenDead) is 410 Gone here; our own misconfiguration (OperatorError) is 502.
#pragma once

#include "push/outcome.hpp"

namespace pushgate::api {

// The status POST /push answers with for `kind`.
int http_status_for(OutcomeKind kind);

}  // namespace pushgate::api
