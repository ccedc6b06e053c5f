// The result of one push, over a closed set (DESIGN.md "Outcomes"): the domain's answer,
// which knows no front door. Each front door maps it to its own: the IQ error in
// xmpp/outcome_errors.hpp, the HTTP status in api/outcome_status.hpp.
#pragma once

#include <cstdint>
#include <string>

namespace pushgate {

enum class OutcomeKind { Delivered, Coalesced, TokenDead, UnknownNode, Forbidden, BadRequest, Retry, QueueFull, OperatorError };

struct Outcome {
  OutcomeKind kind = OutcomeKind::Retry;
  std::string reason;  // short, for logs and error text; never holds a token or secret
  std::int64_t failed_at_ms = 0;  // TokenDead: when the provider says the token died (APNs 410), 0 = unknown
};

const char* to_string(OutcomeKind kind);

// An OperatorError about one device's token rather than our credentials: APNs
// DeviceTokenNotForTopic, FCM SENDER_ID_MISMATCH (a store build's token, a device routed to the
// wrong [[app]]). Prosody still hears `wait`, but the provider and our keys work: it does not
// make the app look down in /health.
bool about_one_device(const Outcome& outcome);

}  // namespace pushgate
