// Where a push's Outcome becomes the answer Prosody reads: the IQ reply to its publish (the
// README's outcome table, the XMPP column). An APNs 410 or FCM UNREGISTERED (TokenDead) is
// cancel/item-not-found here, and nothing but a dead device or an unknown node is ever
// `cancel`: Prosody counts every other error against the registration, and `cancel` ends it.
#pragma once

#include "push/outcome.hpp"
#include "xmpp/stanza.hpp"

namespace pushgate::xmpp {

// The reply for `kind`: a result (empty type) or the error type and condition.
XmppErrorCondition xmpp_error_for(OutcomeKind kind);

}  // namespace pushgate::xmpp
