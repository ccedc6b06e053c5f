// Device registrations made with p2-style ad-hoc commands: a device (owner, device id, muc)
// gets an opaque node and secret from a CSPRNG; a publish names the node and the secret, and
// pushgate finds the app and the real device token. The store keeps a hash of the owner and
// device id, never the JID itself. One small interface; SQLite behind it here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace pushgate {

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Registration {
  std::string node;    // ≥ 96 bits, base64url
  std::string secret;  // ≥ 128 bits, base64url
  std::string domain;  // the user's server: only it may publish to the node
  std::string app;
  std::string token;   // the provider's device token
  std::int64_t updated_ms = 0;  // when the token was last set
};

// Who a registration belongs to. Hashed before it is stored.
struct DeviceKey {
  std::string domain;    // the user's domain
  std::string bare_jid;  // the user
  std::string device_id;
  std::string muc;       // empty, or a group chat with its own target
};

class RegistrationStore {
 public:
  virtual ~RegistrationStore() = default;
  // Registers a device, or updates its app and token: a device registered before keeps its
  // node and secret. Throws StoreError when the store fails.
  virtual Registration upsert(const DeviceKey& key, const std::string& app, const std::string& token,
                              std::int64_t now_ms) = 0;
  // Forgets a device; false when it was not registered.
  virtual bool remove(const DeviceKey& key) = 0;
  // The registration of `node` for a publish from `domain`, or nullopt.
  virtual std::optional<Registration> find(const std::string& domain, const std::string& node) = 0;
  // The registration of `node` whatever its domain: for the local API, whose caller the push
  // secret authenticates and which has no sender domain. Nodes are random, so at most one.
  virtual std::optional<Registration> find_node(const std::string& node) = 0;
  // The provider said the token died at `failed_ms`: forget the registration unless the
  // device registered a token after that. Returns whether it was removed.
  virtual bool remove_dead(const std::string& domain, const std::string& node, std::int64_t failed_ms) = 0;
  virtual std::uint64_t count() = 0;
};

// Opens (creating on first start) the SQLite database at `path`: WAL, a schema version
// table, migrations. Throws StoreError naming the path and the fix.
std::unique_ptr<RegistrationStore> open_sqlite_store(const std::string& path);

// Connects to PostgreSQL (`postgresql://user@host:port/db`), creating or migrating the schema
// under an advisory lock so several pushgate nodes can start at once. Throws StoreError;
// also when this build has no PostgreSQL support (meson -Dpostgresql=disabled).
std::unique_ptr<RegistrationStore> open_postgres_store(const std::string& url);

// Shared by the stores: sha256 of the device key (hex), and CSPRNG ids (base64url).
std::string registration_device_hash(const DeviceKey& key);
std::string registration_random_id(std::size_t bytes);

}  // namespace pushgate
