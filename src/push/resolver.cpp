// Resolution of a publish to an app and push kind, the app of a new registration, and the
// addressing of a push to a registered device.
#include "push/resolver.hpp"

#include "common/secret.hpp"

namespace pushgate {

namespace {
// The publish-options `type` (absent or empty: a message), or why it is not one.
Result<PushKind, Outcome> requested_kind(const PushRequest& request) {
  const std::string* type = request.option("type");
  if (type == nullptr || type->empty()) {
    // Siskin's calls carry no publish-options: <encrypted type='voip'> says it. An explicit
    // type wins, so a token-as-node publish never turns into a call by its payload alone.
    return request.encrypted_call() ? PushKind::Voip : PushKind::Alert;
  }
  if (auto parsed = parse_push_kind(*type)) return *parsed;
  return Outcome{OutcomeKind::BadRequest,
                 "unknown push type '" + type->substr(0, 32) + "'; use voip, call, message, alert, background or silent"};
}

// Whether a token-as-node publish may use `app`, or the Outcome that refuses it. `named`: the
// publish chose the app by name (`app` or `pushModule`) rather than falling to the default.
Result<void, Outcome> check_publish_secret(const PushRequest& request, const AppConfig& app, bool named) {
  const std::string* secret = request.option("secret");
  if (app.secret) {
    if (secret == nullptr) return Outcome{OutcomeKind::Forbidden, "publish-options carry no secret"};
    if (!constant_time_equal(*secret, *app.secret)) return Outcome{OutcomeKind::Forbidden, "wrong secret"};
    return {};
  }
  if (!app.require_secret) {
    // Monal's publishes carry `pushModule` and nothing else: naming the app is the whole
    // request, so only a publish that names it gets in.
    if (named) return {};
    return Outcome{OutcomeKind::Forbidden, "app '" + app.name +
                                               "' takes publishes without a secret only when they "
                                               "name it (pushModule or app)"};
  }
  if (named) {
    // The client asked for this app by name and we have no secret to check: our configuration
    // decides, not the device, so Prosody must keep the registration (wait, never cancel).
    return Outcome{OutcomeKind::OperatorError, "app '" + app.name +
                                                   "' has no secret_file, so it serves registered "
                                                   "devices only; set require_secret = false for clients that send no "
                                                   "secret (Monal), or give the app a secret_file"};
  }
  // An unnamed publish to a default app without a secret: no registration matched it (with a
  // store, the caller answers item-not-found: a registration that is gone).
  return Outcome{OutcomeKind::Forbidden,
                 "not a registered node, and app '" + app.name + "' has no secret for token-as-node publishes"};
}
}  // namespace

Result<Resolved, Outcome> resolve_token_as_node(const PushRequest& request, const std::vector<AppConfig>& apps,
                                                bool authenticated) {
  if (apps.empty()) return Outcome{OutcomeKind::OperatorError, "no app is configured"};
  std::size_t index = 0;
  // fpush names the app `pushModule`; the CommEazy gateway names it `app`.
  const std::string* selector = request.option("app");
  if (selector == nullptr) selector = request.option("pushModule");
  bool named = selector != nullptr && !selector->empty();
  if (named) {
    bool found = false;
    for (std::size_t i = 0; i < apps.size(); ++i) {
      if (apps[i].name == *selector) {
        index = i;
        found = true;
        break;
      }
    }
    if (!found) {
      // From Prosody, an app we lack is our configuration (a Monal build's pushModule, a
      // sandbox variant), not a broken publish: `wait`, so Prosody keeps the registration
      // until the operator adds it. The local API's caller typed it: a bad request.
      std::string why = "unknown app '" + selector->substr(0, 64) + "': no [[app]] has this name";
      return Outcome{authenticated ? OutcomeKind::BadRequest : OutcomeKind::OperatorError, why};
    }
  }
  const AppConfig& app = apps[index];
  if (!authenticated) {
    if (auto checked = check_publish_secret(request, app, named); !checked) return std::move(checked).error();
  }
  auto kind = requested_kind(request);
  if (!kind) return std::move(kind).error();
  return Resolved{index, kind.value()};
}

Result<Resolved, Outcome> resolve_registered(const PushRequest& request, const Registration& registration,
                                             const std::vector<AppConfig>& apps, bool authenticated) {
  const std::string* secret = request.option("secret");
  std::size_t index = apps.size();
  for (std::size_t i = 0; i < apps.size(); ++i) {
    if (apps[i].name == registration.app) index = i;
  }
  auto kind = requested_kind(request);
  // A node-only registration (Tigase's register-device) has no secret: its random node,
  // bound to the user's domain by the lookup, is what authorizes the publish.
  bool secret_ok = authenticated || registration.secret.empty() ||
                   (secret != nullptr && constant_time_equal(*secret, registration.secret));
  if (!secret_ok) return Outcome{OutcomeKind::Forbidden, "wrong secret for this registered node"};
  if (index == apps.size()) {
    return Outcome{OutcomeKind::OperatorError,
                   "the node is registered for app '" + registration.app + "', which is no longer configured"};
  }
  if (!kind) return std::move(kind).error();
  return Resolved{index, kind.value()};
}

Result<Resolved, Outcome> resolve(const PushRequest& request, const std::optional<Registration>& registration,
                                  const std::vector<AppConfig>& apps, bool authenticated, bool registrations) {
  if (registration) return resolve_registered(request, *registration, apps, authenticated);
  Result<Resolved, Outcome> resolved = resolve_token_as_node(request, apps, authenticated);
  // With registrations on, a node that is neither registered nor a device token with an
  // app's secret is a registration that is gone: item-not-found lets Prosody forget it.
  // Not when the publish names its app (`app`, `pushModule`): that is a token-as-node
  // client (registered nodes never name one), and a secret it lacks is no gone device.
  const std::string* app_option = request.option("app");
  const std::string* module_option = request.option("pushModule");
  bool named = (app_option != nullptr && !app_option->empty()) || (module_option != nullptr && !module_option->empty());
  if (registrations && !authenticated && !named && !resolved.ok() && resolved.error().kind == OutcomeKind::Forbidden) {
    return Outcome{OutcomeKind::UnknownNode, "no registration for this node"};
  }
  return resolved;
}

const AppConfig* registration_app(const std::vector<AppConfig>& apps, const std::string& app_field,
                                  const std::string& service) {
  if (!app_field.empty()) {
    for (const AppConfig& a : apps) {
      if (a.name == app_field) return &a;
    }
    return nullptr;
  }
  ServiceKind want = service == "apns" ? ServiceKind::Apns : ServiceKind::Fcm;
  for (const AppConfig& a : apps) {
    if (a.service == want) return &a;
  }
  return apps.empty() ? nullptr : &apps[0];
}

PushKind address_registered(PushRequest& request, PushKind kind, const Registration& registration,
                            ServiceKind service) {
  // What the client reads from the push to find its account (CLIENTS.md). A node-only
  // registration is Tigase's register-device.
  request.dialect = registration.secret.empty() ? Dialect::Tigase : Dialect::P2;
  request.account = registration.account;
  request.channel = registration.channel;
  // The provider gets the device's real token; a call goes to the call token when there is one.
  bool call_token = kind == PushKind::Voip && !registration.voip_token.empty();
  if (kind == PushKind::Voip && !call_token && service == ServiceKind::Apns) {
    // No PushKit token: APNs refuses the .voip topic for an ordinary token
    // (DeviceTokenNotForTopic), so the call rings as a high-priority alert instead.
    kind = PushKind::Alert;
    request.priority = "high";
  }
  request.node = call_token ? registration.voip_token : registration.token;
  return kind;
}

}  // namespace pushgate
