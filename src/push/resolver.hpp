// Resolution: which app and push kind a publish goes to, or the Outcome that refuses it; the
// app a new registration goes to; and how a push to a registered device is addressed. Pure:
// a request, the registration the store found for its node (if any) and the configured apps
// in, an answer out. The dispatcher runs it against the apps current once the store has
// answered its lookup.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "push/outcome.hpp"
#include "push/push_request.hpp"
#include "store/registration_store.hpp"

namespace pushgate {

// A push's app (an index into the apps it was resolved against) and kind.
struct Resolved {
  std::size_t app_index;
  PushKind kind;
};

// Token-as-node: the app is the one `app` or `pushModule` names, else apps[0]. Its secret must
// match the publish's `secret`. An app without a secret takes a publish without one when it
// has require_secret = false and the publish names it (Monal); with require_secret, a publish
// naming it is OperatorError (our configuration, never the device's fault) and an unnamed one
// Forbidden. `authenticated`: the front door has already checked the caller (the local API's
// push_secret), so the app's publish secret is not asked for.
Result<Resolved, Outcome> resolve_token_as_node(const PushRequest& request, const std::vector<AppConfig>& apps,
                                                bool authenticated = false);

// A publish to a registered node: its secret must match the registration's (a node-only
// registration has none: its random node, bound to the user's domain by the lookup, is what
// authorizes it); the registration's app must still be configured (else OperatorError); the
// kind is the publish's.
Result<Resolved, Outcome> resolve_registered(const PushRequest& request, const Registration& registration,
                                             const std::vector<AppConfig>& apps, bool authenticated);

// The whole rule: a registered node wins over token-as-node. With registrations on
// (`registrations`), a node that is neither registered nor a device token with an app's
// secret is a registration that is gone: UnknownNode (item-not-found lets Prosody forget it),
// unless the publish names its app (a token-as-node client) or came from the local API.
Result<Resolved, Outcome> resolve(const PushRequest& request, const std::optional<Registration>& registration,
                                  const std::vector<AppConfig>& apps, bool authenticated, bool registrations);

// The app a registration goes to: the form's `app` if configured, else the first app of
// `service` ("apns"/"fcm"), else the first app. Null when `app_field` names no app.
const AppConfig* registration_app(const std::vector<AppConfig>& apps, const std::string& app_field,
                                  const std::string& service);

// Addresses a push of `kind` to a registered device served by `service`: what its client reads
// (dialect, account, channel) and the device's real token in place of the node. A call goes
// to the device's call (PushKit) token; without one, on APNs, it rings as a high-priority
// alert (APNs refuses the .voip topic for an ordinary token). Returns the kind to send.
PushKind address_registered(PushRequest& request, PushKind kind, const Registration& registration, ServiceKind service);

}  // namespace pushgate
