// The result of one push, over a closed set (DESIGN.md "Outcomes"). Every front door maps
// it to its own answer; `cancel` is reserved for a device that is really gone.
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

// The XMPP error an IQ reply carries; `type` is empty for a `result`.
struct XmppErrorCondition {
  const char* type;       // "", "cancel", "auth", "modify", "wait"
  const char* condition;  // RFC 6120 defined condition, "" for a result
};
XmppErrorCondition xmpp_error_for(OutcomeKind kind);

// The HTTP status /push answers with.
int http_status_for(OutcomeKind kind);

}  // namespace pushgate
