// Device registrations made with ad-hoc commands (p2's, Tigase's): a device (owner, device id,
// muc) gets an opaque node and secret (Tigase's: a node alone) from a CSPRNG; a publish names them, and
// pushgate finds the app and the real device token. The store keeps a hash of the owner and
// device id; the JID itself only where the client reads it back from its pushes (Tigase's
// register-device: `account`). One small interface; SQLite and PostgreSQL behind it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace pushgate {

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Registration {
  std::string node;    // ≥ 96 bits, base64url
  std::string secret;  // ≥ 128 bits, base64url; empty for a node-only registration (see Enrollment)
  std::string domain;  // the user's server: only it may publish to the node
  std::string app;
  std::string token;   // the provider's device token
  std::int64_t updated_ms = 0;  // when the token was last set
  std::string voip_token;       // the token for calls (PushKit), when the device gave one
  // What the client reads from each push to find the account it is for (Enrollment::account),
  // and for a p2 group-chat registration its `channel`. Empty on rows from before schema
  // version 4 until their device registers again.
  std::string account{};
  std::string channel{};
};

// What a device registers.
struct Enrollment {
  std::string app;
  std::string token;
  std::string voip_token;  // Tigase's device-second-token (PushKit); empty: calls use `token`
  // Tigase's register-device: the client enables push with the node alone, so there is no
  // secret; the random node, bound to the user's domain, is what authorizes a publish.
  bool node_only = false;
  // Sent with every push: p2 (Conversations) compares `account` with
  // p2_account_id(bare JID, device id) and a group chat's `channel` with
  // p2_account_id(room, device id); Tigase's clients (Siskin, Stork) read the bare JID.
  std::string account{};
  std::string channel{};
};

// Who a registration belongs to. Hashed before it is stored.
struct DeviceKey {
  std::string domain;    // the user's domain
  std::string bare_jid;  // the user
  std::string device_id;
  std::string muc;       // empty, or a group chat with its own target
};

// Why a registration was refused: a limit that adding it would pass. Nothing was changed.
struct QuotaExceeded {
  enum class Limit {
    DevicesPerUser,         // the user has `max` devices registered for the app
    RegistrationsPerDevice  // the device has `max` registrations (its own and its group chats')
  };
  Limit limit;
  std::uint64_t max;
};

// A token-as-node device token a provider called dead, for one app, as the store shares it
// between pushgate nodes: publishes to it are answered TokenDead until `until_ms`.
struct DeadToken {
  std::string app;
  std::int64_t until_ms = 0;
};

// What a publish needs from the store: the registration of its node, and, when there is none,
// the apps for which the node, taken as a device token, is dead.
struct NodeLookup {
  std::optional<Registration> registration;
  std::vector<DeadToken> dead;
};

// Group-chat registrations (`muc`) of one device are not devices, but they are bounded too.
inline constexpr std::uint64_t kMaxRegistrationsPerDevice = 200;

class RegistrationStore {
 public:
  virtual ~RegistrationStore() = default;
  // Registers a device, or updates its app and tokens: a device registered before keeps its
  // node and secret. A new registration is refused (nothing changes) when its device is new
  // and the user already has `max_devices` devices for the app (0: no limit), or when its
  // device already has kMaxRegistrationsPerDevice registrations. The count and the insert are
  // one transaction, so registrations arriving at once (other nodes, other processes) cannot
  // pass the limit together. Throws StoreError when the store fails.
  virtual std::variant<Registration, QuotaExceeded> register_device(const DeviceKey& key, const Enrollment& enrollment,
                                                                    std::int64_t now_ms, std::uint64_t max_devices) = 0;
  // register_device() without the per-user limit (tests, tools). Throws StoreError, also
  // when the per-device bound refuses it.
  Registration upsert(const DeviceKey& key, const Enrollment& enrollment, std::int64_t now_ms) {
    auto r = register_device(key, enrollment, now_ms, 0);
    if (auto* reg = std::get_if<Registration>(&r)) return std::move(*reg);
    throw StoreError("the device has " + std::to_string(kMaxRegistrationsPerDevice) + " registrations already");
  }
  Registration upsert(const DeviceKey& key, const std::string& app, const std::string& token, std::int64_t now_ms) {
    return upsert(key, Enrollment{app, token, "", false}, now_ms);
  }
  // Devices (not group chats) the user has registered for `app`.
  virtual std::uint64_t count_devices(const DeviceKey& user, const std::string& app) = 0;
  // One cheap round trip (a health probe); re-establishes a lost connection. Throws StoreError.
  virtual void ping() = 0;
  // Thread-safe: makes the call running on another thread (and calls until the store is
  // destroyed) fail at once with StoreError, for a shutdown that cannot wait for them.
  virtual void interrupt() = 0;
  // Forgets a device; false when it was not registered.
  virtual bool remove(const DeviceKey& key) = 0;
  // Forgets the group-chat registration of a device that Conversations names by its channel
  // (SHA-1 of room JID + NUL + device id, as the push carried it), never the device's own.
  // Rows registered before schema 4 have no channel and are not found. False when none was.
  virtual bool remove_channel(const DeviceKey& device, const std::string& channel) = 0;
  // The registration of `node` for a publish from `domain`, or nullopt.
  virtual std::optional<Registration> find(const std::string& domain, const std::string& node) = 0;
  // The registration of `node` whatever its domain: for the local API, whose caller the push
  // secret authenticates and which has no sender domain. Nodes are random, so at most one.
  virtual std::optional<Registration> find_node(const std::string& node) = 0;
  // The provider said the token died at `failed_ms`: forget the registration unless the
  // device registered a token after that. Returns whether it was removed.
  virtual bool remove_dead(const std::string& domain, const std::string& node, std::int64_t failed_ms) = 0;
  virtual std::uint64_t count() = 0;

  // Token-as-node dead tokens (schema 5), shared by every node on the store: the provider
  // called `token` of `app` dead, so publishes to it are answered TokenDead until `until_ms`
  // (a later mark extends it, never shortens it). Marks expired before `now_ms` are purged.
  virtual void mark_token_dead(const std::string& app, const std::string& token, std::int64_t until_ms,
                               std::int64_t now_ms) = 0;
  // The apps for which `token` is marked dead at `now_ms`.
  virtual std::vector<DeadToken> dead_token(const std::string& token, std::int64_t now_ms) = 0;
  // A publish's lookup: find(*domain, node) (find_node(node) when `domain` is null) and, when
  // no registration holds the node, dead_token(node, now_ms). One round trip on PostgreSQL.
  virtual NodeLookup lookup_node(const std::string* domain, const std::string& node, std::int64_t now_ms) {
    NodeLookup out;
    out.registration = domain != nullptr ? find(*domain, node) : find_node(node);
    if (!out.registration) out.dead = dead_token(node, now_ms);
    return out;
  }

  // For the operator (`pushgate registrations`): registrations per app, by app name.
  virtual std::vector<std::pair<std::string, std::uint64_t>> count_by_app() = 0;
  // Forgets every registration of a device: its own and its group chats' (any `muc` of the
  // key). Returns how many were removed.
  virtual std::uint64_t remove_device(const DeviceKey& key) = 0;
  // Forgets every registration holding `token` (as its token or its call token).
  virtual std::uint64_t remove_token(const std::string& token) = 0;
};

// Opens (creating on first start) the SQLite database at `path`: WAL, a schema version
// table, migrations. Throws StoreError naming the path and the fix.
std::unique_ptr<RegistrationStore> open_sqlite_store(const std::string& path);

// Connects to PostgreSQL (`postgresql://user@host:port/db`), creating or migrating the schema
// under an advisory lock so several pushgate nodes can start at once. Throws StoreError;
// also when this build has no PostgreSQL support (meson -Dpostgresql=disabled).
// Every call is bounded by `timeout` (the server's statement_timeout and our own wait for the
// answer; a connection attempt by connect_timeout): past it the connection is dropped and
// StoreError names the cause. A lost connection is re-established on a later call, no
// sooner than a backoff (from 250 ms, doubling, at most 5 s) after the last failed attempt.
struct PostgresOptions {
  std::chrono::milliseconds timeout{2000};
};
std::unique_ptr<RegistrationStore> open_postgres_store(const std::string& url, PostgresOptions options = {});

// A PostgreSQL URL as the log may show it: no user or password, no parameters (they may
// hold password=…), e.g. "postgresql://…@db.example:5432/pushgate".
std::string store_url_for_log(const std::string& url);

// Shared by the stores: sha256 of the device key (hex), and CSPRNG ids (base64url).
std::string registration_device_hash(const DeviceKey& key);
// sha256 of the owner and device id without the muc: all of one device's registrations.
std::string registration_owner_hash(const DeviceKey& key);
// sha256 of the owner alone (domain and bare JID): all of one user's registrations.
std::string registration_user_hash(const DeviceKey& key);
std::string registration_random_id(std::size_t bytes);

// What p2 sends and Conversations compares (p2's Utils.combineAndHash): lowercase hex
// SHA-1 of `jid` + "\0" + `device_id`. With the user's bare JID it is the push's `account`;
// with a group chat's JID its `channel`.
std::string p2_account_id(const std::string& jid, const std::string& device_id);

}  // namespace pushgate
