// Device registration commands: checked against the apps, run on the store's worker, answered
// once.
#include "xmpp/registration_commands.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/log.hpp"
#include "push/device_token.hpp"
#include "push/resolver.hpp"

namespace pushgate::xmpp {
namespace {

// A form field's value, "" when the form has none.
const std::string& field(const AdhocCommand& command, const char* var) {
  static const std::string kNone;
  auto it = command.fields.find(var);
  return it == command.fields.end() ? kNone : it->second;
}

CommandError bad_request(std::string why) {
  return CommandError{{"modify", "bad-request"}, std::move(why)};
}

}  // namespace

Result<CommandDevice, CommandError> command_device(const AdhocCommand& command, const std::string& from) {
  // The user is the IQ's sender, as Prosody stamped it: user@domain/resource.
  auto at = from.find('@');
  auto slash = from.find('/');
  std::string bare = from.substr(0, slash);
  if (at == std::string::npos || at > slash) return bad_request("commands must come from a user");
  CommandDevice device{bare, DeviceKey{bare.substr(at + 1), bare, "", ""}, ""};
  if (command.tigase()) {
    // Tigase names a device by its provider and token; it has no device id.
    device.token = field(command, "device-token");
    if (command.service().empty()) return bad_request("field provider must be tigase:messenger:apns:1 or fcm-xmpp-api");
    if (device.token.empty()) return bad_request("field device-token is required");
    device.key.device_id = field(command, "provider") + ' ' + device.token;
  } else {
    device.token = field(command, "token");
    device.key.device_id = field(command, "device-id");
    device.key.muc = field(command, "muc");
    if (device.key.device_id.empty()) device.key.device_id = field(command, "android-id");
    if (device.key.device_id.empty()) return bad_request("field device-id is required");
  }
  return device;
}

Result<StoreWork, CommandError> plan_command(const AdhocCommand& command, const CommandDevice& device,
                                             const std::vector<AppConfig>& apps, std::int64_t now_ms) {
  if (!command.registers()) {
    // Conversations leaves a group chat's pushes with the channel the pushes carried and its
    // android-id, and no muc: only that group chat's registration goes, never its own.
    std::string channel = device.key.muc.empty() ? field(command, "channel") : "";
    return StoreWork{UnregisterDevice{device.key, std::move(channel)}};
  }
  bool tigase = command.tigase();
  const std::string& token = device.token;
  if (token.empty()) return bad_request(tigase ? "field device-token is required" : "field token is required");
  const AppConfig* app = registration_app(apps, field(command, "app"), command.service());
  if (app == nullptr) return bad_request("unknown app");
  // The log service stands in for the provider the command names.
  ServiceKind shape = app->service != ServiceKind::Log ? app->service
                      : command.service() == "apns"    ? ServiceKind::Apns
                                                       : ServiceKind::Fcm;
  std::string call_token = tigase ? field(command, "device-second-token") : "";
  const char* token_field = tigase ? "device-token" : "token";
  if (auto checked = check_registration_token(shape, token); !checked)
    return bad_request(std::string("field ") + token_field + ": " + checked.error().message());
  if (!call_token.empty()) {
    if (auto checked = check_registration_token(shape, call_token); !checked)
      return bad_request("field device-second-token: " + checked.error().message());
  }
  RegisterDevice work{device.key, Enrollment{app->name, token, call_token, tigase},
                      static_cast<std::uint64_t>(app->max_devices_per_user), now_ms};
  if (tigase) {
    // Siskin and Stork read the bare JID from every push to find the account it is for.
    work.enrollment.account = device.user;
  } else {
    // Conversations compares p2's hash of the bare JID (as Prosody stamped it) and the
    // device id with its own for each account; a group chat's channel likewise.
    work.enrollment.account = p2_account_id(device.user, device.key.device_id);
    if (!device.key.muc.empty()) work.enrollment.channel = p2_account_id(device.key.muc, device.key.device_id);
  }
  return StoreWork{std::move(work)};
}

Result<std::vector<ResultField>, CommandError> registration_answer(
    const std::variant<Registration, QuotaExceeded>& answer, const RegisterDevice& request,
    const std::string& component_jid) {
  if (const QuotaExceeded* quota = std::get_if<QuotaExceeded>(&answer)) {
    std::string limit = std::to_string(quota->max);
    return bad_request(quota->limit == QuotaExceeded::Limit::DevicesPerUser
                           ? "too many devices: " + limit + " are registered for app '" + request.enrollment.app +
                                 "' (max_devices_per_user = " + limit + "); unregister one first"
                           : "too many registrations for this device: " + limit + " (its group chats included)");
  }
  const Registration& r = std::get<Registration>(answer);
  if (!request.enrollment.node_only)
    return std::vector<ResultField>{{"jid", {component_jid}}, {"node", {r.node}}, {"secret", {r.secret}}};
  // Tigase's clients enable push with the node alone, and ask Prosody to encrypt only when
  // `features` lists tigase:push:encrypt:0.
  return std::vector<ResultField>{
      {"node", {r.node}},
      {"features", {std::begin(kTigaseEncryptFeatures), std::end(kTigaseEncryptFeatures)}, true},
      {"max-payload-size", {std::to_string(kTigaseMaxPayloadSize)}}};
}

CommandError store_unavailable(const StoreFailure& failure) {
  return CommandError{failure.kind == StoreFailure::Kind::QueueFull
                          ? XmppErrorCondition{"wait", "resource-constraint"}
                          : XmppErrorCondition{"wait", "internal-server-error"},
                      "registration store unavailable; retry later"};
}

RegistrationCommands::RegistrationCommands(std::string component_jid, StoreWorker* store)
    : jid_(std::move(component_jid)), store_(store) {}

std::vector<std::string> RegistrationCommands::disco_features(const std::vector<AppConfig>& apps) const {
  std::vector<std::string> providers;
  if (store_ == nullptr) return providers;
  for (ServiceKind kind : {ServiceKind::Apns, ServiceKind::Fcm}) {
    bool served = std::any_of(apps.begin(), apps.end(), [kind](const AppConfig& a) { return a.service == kind; });
    if (served) providers.emplace_back(tigase_provider(to_string(kind)));
  }
  return providers;
}

std::size_t RegistrationCommands::in_progress() const {
  std::size_t n = 0;
  for (const auto& [user, count] : in_flight_) n += count;
  return n;
}

void RegistrationCommands::refuse(const Requester& to, const CommandError& error) const {
  to.reply(iq_reply_xml(jid_, to.from, to.id, error.condition, error.text));
}

void RegistrationCommands::handle(xmpp_stanza_t* command, const std::string& from, const std::string& id,
                                  const std::vector<AppConfig>& apps, Reply reply) {
  AdhocStep step = adhoc_first_step(command, jid_, from, id, sessions_);
  if (!step.reply.empty()) {
    reply(step.reply);
    return;
  }
  const AdhocCommand& c = step.command;
  Requester to{from, id, c.node, c.sessionid, std::move(reply)};
  if (store_ == nullptr) {
    return refuse(to,
                  {{"cancel", "service-unavailable"}, "device registration is off: the push service has no [store]"});
  }
  auto device = command_device(c, from);
  if (!device) return refuse(to, device.error());
  const CommandDevice& d = device.value();
  auto busy = in_flight_.find(d.user);
  if (busy != in_flight_.end() && busy->second >= kMaxCommandsPerUser) {
    return refuse(to, {{"wait", "resource-constraint"}, "too many of your commands are in progress; retry later"});
  }
  std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto work = plan_command(c, d, apps, now_ms);
  if (!work) return refuse(to, work.error());
  std::visit([&](auto& w) { run(std::move(w), std::move(to)); }, work.value());
}

void RegistrationCommands::done(const std::string& user) {
  auto it = in_flight_.find(user);
  if (it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
}

void RegistrationCommands::run(RegisterDevice work, Requester to) {
  using Answer = std::variant<Registration, QuotaExceeded>;
  ++in_flight_[work.key.bare_jid];  // until done() in the answer
  // Built before the answer's callback takes `work` over.
  std::function<Answer(RegistrationStore&)> on_worker =
      [key = work.key, enrollment = work.enrollment, now_ms = work.now_ms, max_devices = work.max_devices](
          RegistrationStore& s) { return s.register_device(key, enrollment, now_ms, max_devices); };
  store_->call<Answer>(
      "register", std::move(on_worker),
      [this, work = std::move(work), to = std::move(to)](const StoreResult<Answer>& answer) {
        done(work.key.bare_jid);
        if (!answer) return refuse(to, store_unavailable(answer.error()));
        const Answer& stored = answer.value();
        auto form = registration_answer(stored, work, jid_);
        const std::string& domain = work.key.domain;
        const std::string& app = work.enrollment.app;
        if (!form) {
          log::warn("registration_refused", {{"from", domain}, {"app", app}, {"cause", form.error().text}});
          return refuse(to, form.error());
        }
        const Registration& r = std::get<Registration>(stored);
        const std::string& call_token = work.enrollment.voip_token;
        log::info("device_registered", {{"from", domain},
                                        {"app", app},
                                        {"node", log::redact(r.node)},
                                        {"token", log::redact(work.enrollment.token)},
                                        {"call_token", call_token.empty() ? "-" : log::redact(call_token)},
                                        {"dialect", work.enrollment.node_only ? "tigase" : "p2"}});
        to.reply(adhoc_completed_xml(jid_, to.from, to.id, to.node, to.sessionid, form.value()));
      },
      StoreUse::Command);
}

void RegistrationCommands::run(UnregisterDevice work, Requester to) {
  ++in_flight_[work.key.bare_jid];
  store_->call<bool>(
      "unregister",
      [key = work.key, channel = work.channel](RegistrationStore& s) {
        return channel.empty() ? s.remove(key) : s.remove_channel(key, channel);
      },
      [this, user = work.key.bare_jid, domain = work.key.domain, to = std::move(to)](const StoreResult<bool>& removed) {
        done(user);
        if (!removed) return refuse(to, store_unavailable(removed.error()));
        log::info("device_unregistered", {{"from", domain}, {"found", removed.value() ? "yes" : "no"}});
        to.reply(adhoc_completed_xml(jid_, to.from, to.id, to.node, to.sessionid, std::vector<ResultField>{}));
      },
      StoreUse::Command);
}

}  // namespace pushgate::xmpp
