// The XEP-0357 publish parser: a pubsub publish IQ from Prosody in, a PushRequest or the
// Error that says why it is malformed out. Pure: no session, no I/O; unit-tested and fuzzed.
#pragma once

#include <string>

#include <strophe.h>

#include "common/result.hpp"
#include "push/push_request.hpp"

namespace pushgate::xmpp {

// Limits on what one publish may carry; past them it is a bad-request, not a crash.
inline constexpr std::size_t kMaxNodeBytes = 1024;
inline constexpr std::size_t kMaxPublishBytes = std::size_t{64} * 1024;  // sum of all text and attributes read
inline constexpr std::size_t kMaxFields = 64;

// True when `iq` is type set with <pubsub xmlns='…pubsub'><publish/>: the only IQ this parser takes.
bool is_publish(xmpp_stanza_t* iq);

// Parses a publish IQ. Whitespace between elements, namespace prefixes, empty fields and
// unknown fields are accepted; unknown publish-options fields are kept and never rejected.
// The Error's message() is the bad-request text and its cause goes to the log; neither echoes
// a value from the publish.
Result<PushRequest> parse_publish(xmpp_stanza_t* iq);

}  // namespace pushgate::xmpp
