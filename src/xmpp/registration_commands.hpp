// Device registration over XEP-0050 as pushgate runs it: p2's register-push-* and
// unregister-push-* (Conversations) and Tigase's register-device and unregister-device
// (Siskin, Stork); the form machinery (parsing, session ids, completed forms) is
// xmpp/adhoc.hpp. Pure functions check a command against the configured apps, say what the
// store must do and turn the store's answer into the reply; RegistrationCommands runs them
// against the store's worker, with each user's commands in progress bounded.
#pragma once

#include <strophe.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "store/registration_store.hpp"
#include "store/store_worker.hpp"
#include "xmpp/adhoc.hpp"
#include "xmpp/stanza.hpp"

namespace pushgate::xmpp {

// A command refused: the IQ error it is answered with and the text. Like an Outcome, it is the
// answer the command gets, so the checks below fail with it (Result<T, CommandError>).
struct CommandError {
  XmppErrorCondition condition;
  std::string text;
};

// Who a command is from and the device it names.
struct CommandDevice {
  std::string user;  // the sender's bare JID, as Prosody stamped it
  DeviceKey key;
  std::string token;  // the provider token the form carries; may be empty (p2's unregister)
};

// The device of a command from `from` (user@domain/resource). Refused: a command from a
// server, a Tigase command for a provider pushgate does not serve or without its token, a p2
// command without device-id (or android-id). Pure.
Result<CommandDevice, CommandError> command_device(const AdhocCommand& command, const std::string& from);

// What a checked command asks of the store.
struct RegisterDevice {
  DeviceKey key;
  Enrollment enrollment;
  std::uint64_t max_devices = 0;  // the app's max_devices_per_user; 0: no limit
  std::int64_t now_ms = 0;        // when the token is set (Registration::updated_ms)
};
struct UnregisterDevice {
  DeviceKey key;
  std::string channel;  // Conversations leaving a group chat by its channel: only that registration goes
};
using StoreWork = std::variant<RegisterDevice, UnregisterDevice>;

// What `command` from `device` asks of the store: for a registration, the app it goes to
// (registration_app()), its tokens checked for that provider's shape, and the account (and
// group chat's channel) its pushes will carry. Refused: no token, an unknown app, a token that
// cannot be one. Pure.
Result<StoreWork, CommandError> plan_command(const AdhocCommand& command, const CommandDevice& device,
                                             const std::vector<AppConfig>& apps, std::int64_t now_ms);

// The result form of a registration the store made (p2: jid, node and secret; Tigase: node,
// features and max-payload-size), or why it refused it (a quota). The store's answer is a
// std::variant, not a Result: a quota is an answer from a store that worked. Pure.
Result<std::vector<ResultField>, CommandError> registration_answer(
    const std::variant<Registration, QuotaExceeded>& answer, const RegisterDevice& request,
    const std::string& component_jid);

// What the user hears when the store did not answer; the cause goes to the log, not to them.
CommandError store_unavailable(const StoreFailure& failure);

class RegistrationCommands {
 public:
  // Sends one complete IQ; drops it when the session the command came on has ended.
  using Reply = std::function<void(const std::string& xml)>;
  // One user's commands waiting for the store, at most: past it a command is answered
  // wait/resource-constraint at once, so a flood from one account never fills the store's
  // share for commands (StoreUse::Command).
  static constexpr unsigned kMaxCommandsPerUser = 32;

  // `store` null: device registration is off (no [store]). Not owned; it outlives this.
  RegistrationCommands(std::string component_jid, StoreWorker* store);
  RegistrationCommands(const RegistrationCommands&) = delete;
  RegistrationCommands& operator=(const RegistrationCommands&) = delete;

  bool enabled() const { return store_ != nullptr; }
  // The Tigase providers disco#info announces (Siskin and Stork look for theirs before they
  // register): those of the configured services, while registration is on.
  std::vector<std::string> disco_features(const std::vector<AppConfig>& apps) const;
  // Runs <command xmlns='http://jabber.org/protocol/commands'/> from the IQ (from, id) against
  // the configured `apps`. `reply` runs exactly once, at once or when the store has answered
  // (unless the store's worker is destroyed first). Loop thread.
  void handle(xmpp_stanza_t* command, const std::string& from, const std::string& id,
              const std::vector<AppConfig>& apps, Reply reply);
  // Commands waiting for the store.
  std::size_t in_progress() const;

 private:
  // Where a command's answer goes.
  struct Requester {
    std::string from, id, node, sessionid;
    Reply reply;
  };
  void run(RegisterDevice work, Requester to);
  void run(UnregisterDevice work, Requester to);
  void refuse(const Requester& to, const CommandError& error) const;
  void done(const std::string& user);

  std::string jid_;
  StoreWorker* store_;
  AdhocSessions sessions_;
  std::unordered_map<std::string, unsigned> in_flight_;  // by user (bare JID); entries go at 0
};

}  // namespace pushgate::xmpp
