// The SQLite registration store.
#include <sqlite3.h>

#include <atomic>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/keys.hpp"
#include "store/registration_store.hpp"

namespace pushgate {

std::string registration_random_id(std::size_t bytes) {
  unsigned char buf[32];
  if (bytes > sizeof buf || RAND_bytes(buf, static_cast<int>(bytes)) != 1) {
    throw StoreError("the CSPRNG failed (OpenSSL RAND_bytes)");
  }
  return base64url(buf, bytes);
}

namespace {
std::string digest_hex(const std::string& in, const EVP_MD* md_type) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, md_type, nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}
std::string sha256_hex(const std::string& in) {
  return digest_hex(in, EVP_sha256());
}
}  // namespace

std::string p2_account_id(const std::string& jid, const std::string& device_id) {
  return digest_hex(jid + '\0' + device_id, EVP_sha1());
}

std::string store_url_for_log(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return "postgresql://…";
  std::string rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));  // parameters may hold password=…
  auto slash = rest.find('/');
  auto at = rest.rfind('@', slash == std::string::npos ? std::string::npos : slash);
  if (at != std::string::npos) rest = "…@" + rest.substr(at + 1);  // user:password@
  return url.substr(0, scheme + 3) + rest;
}

// sha256(domain \0 bare jid \0 device id \0 muc), hex: the key never holds the JID (a
// Tigase registration keeps the bare JID as its account, which its client reads).
std::string registration_device_hash(const DeviceKey& k) {
  return sha256_hex(k.domain + '\0' + k.bare_jid + '\0' + k.device_id + '\0' + k.muc);
}

// sha256(domain \0 bare jid \0 device id): one device, whatever its group chats.
std::string registration_owner_hash(const DeviceKey& k) {
  return sha256_hex(k.domain + '\0' + k.bare_jid + '\0' + k.device_id);
}

// sha256(domain \0 bare jid): one user, whatever the device.
std::string registration_user_hash(const DeviceKey& k) {
  return sha256_hex(k.domain + '\0' + k.bare_jid);
}

namespace {

constexpr int kSchemaVersion = 5;

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      throw StoreError(std::string("SQLite: ") + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(stmt_); }
  std::string text(int col) {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  std::int64_t integer(int col) { return sqlite3_column_int64(stmt_, col); }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteStore final : public RegistrationStore {
 public:
  explicit SqliteStore(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw StoreError("[store] path " + path + " cannot be opened: " + why +
                       "; the directory must exist and be writable by the pushgate user");
    }
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA busy_timeout=2000");
    exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    int version = 0;
    {
      Statement s(db_, "SELECT version FROM schema_version");
      if (s.step() == SQLITE_ROW) version = static_cast<int>(s.integer(0));
    }
    if (version > kSchemaVersion) {
      throw StoreError("[store] " + path + " has schema version " + std::to_string(version) +
                       ", newer than this pushgate understands (" + std::to_string(kSchemaVersion) + "): upgrade pushgate");
    }
    if (version < 1) {
      // Migration 1: the registrations table.
      exec("BEGIN");
      exec("CREATE TABLE registrations (device_hash TEXT PRIMARY KEY, domain TEXT NOT NULL, app TEXT NOT NULL, "
           "token TEXT NOT NULL, node TEXT NOT NULL, secret TEXT NOT NULL, updated_ms INTEGER NOT NULL)");
      exec("CREATE UNIQUE INDEX registrations_by_node ON registrations (domain, node)");
      exec("DELETE FROM schema_version");
      exec("INSERT INTO schema_version (version) VALUES (1)");
      exec("COMMIT");
    }
    if (version < 2) {
      // Migration 2: a second token for calls (Tigase's device-second-token, PushKit), and the
      // owner hash that finds all of a device's registrations (empty on older rows).
      exec("BEGIN");
      exec("ALTER TABLE registrations ADD COLUMN voip_token TEXT NOT NULL DEFAULT ''");
      exec("ALTER TABLE registrations ADD COLUMN owner_hash TEXT NOT NULL DEFAULT ''");
      exec("CREATE INDEX registrations_by_owner ON registrations (owner_hash)");
      exec("DELETE FROM schema_version");
      exec("INSERT INTO schema_version (version) VALUES (2)");
      exec("COMMIT");
    }
    if (version < 3) {
      // Migration 3: the user hash, to count a user's devices per app (max_devices_per_user).
      // Empty on older rows until their device registers again: they are not counted.
      exec("BEGIN");
      exec("ALTER TABLE registrations ADD COLUMN user_hash TEXT NOT NULL DEFAULT ''");
      exec("CREATE INDEX registrations_by_user ON registrations (user_hash, app)");
      exec("DELETE FROM schema_version");
      exec("INSERT INTO schema_version (version) VALUES (3)");
      exec("COMMIT");
    }
    if (version < 4) {
      // Migration 4: what the client reads from each push (p2's account hash and group-chat
      // channel, Tigase's bare JID). Empty on older rows until their device registers again,
      // which Conversations does at every connect.
      exec("BEGIN");
      exec("ALTER TABLE registrations ADD COLUMN account TEXT NOT NULL DEFAULT ''");
      exec("ALTER TABLE registrations ADD COLUMN channel TEXT NOT NULL DEFAULT ''");
      exec("DELETE FROM schema_version");
      exec("INSERT INTO schema_version (version) VALUES (4)");
      exec("COMMIT");
    }
    if (version < 5) {
      // Migration 5: token-as-node tokens a provider called dead, per app, until an expiry;
      // looked up by token, purged by expiry.
      exec("BEGIN");
      exec("CREATE TABLE dead_tokens (token TEXT NOT NULL, app TEXT NOT NULL, until_ms INTEGER NOT NULL, "
           "PRIMARY KEY (token, app))");
      exec("CREATE INDEX dead_tokens_by_expiry ON dead_tokens (until_ms)");
      exec("DELETE FROM schema_version");
      exec("INSERT INTO schema_version (version) VALUES (5)");
      exec("COMMIT");
    }
    // interrupt(): statements running or started after it fail with SQLITE_INTERRUPT.
    sqlite3_progress_handler(
        db_, 1000, [](void* flag) { return static_cast<std::atomic<bool>*>(flag)->load() ? 1 : 0; }, &interrupted_);
    find_ = std::make_unique<Statement>(db_,
                                        "SELECT node, secret, domain, app, token, updated_ms, voip_token, account, "
                                        "channel FROM registrations WHERE domain = ?1 AND node = ?2");
  }
  ~SqliteStore() override {
    find_.reset();
    sqlite3_close(db_);
  }

  std::variant<Registration, QuotaExceeded> register_device(const DeviceKey& key, const Enrollment& e,
                                                            std::int64_t now_ms, std::uint64_t max_devices) override {
    std::string hash = registration_device_hash(key), owner = registration_owner_hash(key);
    std::string user = registration_user_hash(key);
    // IMMEDIATE takes the write lock first: another process (pushgate registrations, a second
    // daemon on the file) cannot count the same devices between our count and our insert.
    Transaction tx(*this);
    {
      Statement s(db_,
                  "UPDATE registrations SET app = ?2, token = ?3, updated_ms = ?4, voip_token = ?5, owner_hash = ?6, "
                  "user_hash = ?7, account = ?8, channel = ?9 WHERE device_hash = ?1 "
                  "RETURNING node, secret, domain, app, token, updated_ms, voip_token, account, channel");
      s.bind(1, hash)
          .bind(2, e.app)
          .bind(3, e.token)
          .bind(4, now_ms)
          .bind(5, e.voip_token)
          .bind(6, owner)
          .bind(7, user)
          .bind(8, e.account)
          .bind(9, e.channel);
      int rc = s.step();
      if (rc == SQLITE_ROW) {
        Registration r = row(s);
        s.reset();
        tx.commit();
        return r;
      }
      if (rc != SQLITE_DONE) throw StoreError(std::string("SQLite update: ") + sqlite3_errmsg(db_));
    }
    std::int64_t of_device = count("SELECT COUNT(*) FROM registrations WHERE owner_hash = ?1", owner);
    if (static_cast<std::uint64_t>(of_device) >= kMaxRegistrationsPerDevice) {
      return QuotaExceeded{QuotaExceeded::Limit::RegistrationsPerDevice, kMaxRegistrationsPerDevice};
    }
    if (max_devices > 0 && of_device == 0 &&
        static_cast<std::uint64_t>(count(
            "SELECT COUNT(DISTINCT owner_hash) FROM registrations WHERE user_hash = ?1 AND app = ?2", user, e.app)) >=
            max_devices) {
      return QuotaExceeded{QuotaExceeded::Limit::DevicesPerUser, max_devices};
    }
    Registration r{registration_random_id(12),
                   e.node_only ? "" : registration_random_id(16),
                   key.domain,
                   e.app,
                   e.token,
                   now_ms,
                   e.voip_token,
                   e.account,
                   e.channel};
    {
      Statement s(
          db_,
          "INSERT INTO registrations (device_hash, domain, app, token, node, secret, updated_ms, voip_token, "
          "owner_hash, user_hash, account, channel) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
      s.bind(1, hash)
          .bind(2, r.domain)
          .bind(3, e.app)
          .bind(4, e.token)
          .bind(5, r.node)
          .bind(6, r.secret)
          .bind(7, now_ms);
      s.bind(8, e.voip_token).bind(9, owner).bind(10, user).bind(11, e.account).bind(12, e.channel);
      if (s.step() != SQLITE_DONE) throw StoreError(std::string("SQLite insert: ") + sqlite3_errmsg(db_));
    }
    tx.commit();
    return r;
  }

  std::uint64_t count_devices(const DeviceKey& user, const std::string& app) override {
    return static_cast<std::uint64_t>(
        count("SELECT COUNT(DISTINCT owner_hash) FROM registrations WHERE user_hash = ?1 AND app = ?2",
              registration_user_hash(user), app));
  }

  void ping() override { count("SELECT COUNT(*) FROM schema_version"); }

  void interrupt() override {
    interrupted_ = true;
    sqlite3_interrupt(db_);
  }

  bool remove(const DeviceKey& key) override {
    Statement s(db_, "DELETE FROM registrations WHERE device_hash = ?1");
    s.bind(1, registration_device_hash(key));
    if (s.step() != SQLITE_DONE) throw StoreError(std::string("SQLite delete: ") + sqlite3_errmsg(db_));
    return sqlite3_changes(db_) > 0;
  }

  bool remove_channel(const DeviceKey& device, const std::string& channel) override {
    if (channel.empty()) return false;
    Statement s(db_, "DELETE FROM registrations WHERE owner_hash = ?1 AND channel = ?2");
    s.bind(1, registration_owner_hash(device));
    s.bind(2, channel);
    if (s.step() != SQLITE_DONE) throw StoreError(std::string("SQLite delete: ") + sqlite3_errmsg(db_));
    return sqlite3_changes(db_) > 0;
  }

  std::optional<Registration> find(const std::string& domain, const std::string& node) override {
    find_->reset();
    find_->bind(1, domain).bind(2, node);
    int rc = find_->step();
    if (rc == SQLITE_ROW) return row(*find_);
    if (rc != SQLITE_DONE) throw StoreError(std::string("SQLite lookup: ") + sqlite3_errmsg(db_));
    return std::nullopt;
  }

  std::optional<Registration> find_node(const std::string& node) override {
    Statement s(db_,
                "SELECT node, secret, domain, app, token, updated_ms, voip_token, account, channel FROM registrations "
                "WHERE node = ?1 LIMIT 1");
    s.bind(1, node);
    int rc = s.step();
    if (rc == SQLITE_ROW) return row(s);
    if (rc != SQLITE_DONE) throw StoreError(std::string("SQLite lookup: ") + sqlite3_errmsg(db_));
    return std::nullopt;
  }

  bool remove_dead(const std::string& domain, const std::string& node, std::int64_t failed_ms) override {
    Statement s(db_, "DELETE FROM registrations WHERE domain = ?1 AND node = ?2 AND updated_ms <= ?3");
    s.bind(1, domain).bind(2, node).bind(3, failed_ms);
    if (s.step() != SQLITE_DONE) throw StoreError(std::string("SQLite delete: ") + sqlite3_errmsg(db_));
    return sqlite3_changes(db_) > 0;
  }

  std::uint64_t count() override {
    Statement s(db_, "SELECT COUNT(*) FROM registrations");
    return s.step() == SQLITE_ROW ? static_cast<std::uint64_t>(s.integer(0)) : 0;
  }

  void mark_token_dead(const std::string& app, const std::string& token, std::int64_t until_ms,
                       std::int64_t now_ms) override {
    Transaction tx(*this);
    {
      Statement purge(db_, "DELETE FROM dead_tokens WHERE until_ms <= ?1");
      purge.bind(1, now_ms);
      if (purge.step() != SQLITE_DONE) throw StoreError(std::string("SQLite delete: ") + sqlite3_errmsg(db_));
      Statement s(db_,
                  "INSERT INTO dead_tokens (token, app, until_ms) VALUES (?1, ?2, ?3) ON CONFLICT (token, app) "
                  "DO UPDATE SET until_ms = max(until_ms, excluded.until_ms)");
      s.bind(1, token).bind(2, app).bind(3, until_ms);
      if (s.step() != SQLITE_DONE) throw StoreError(std::string("SQLite insert: ") + sqlite3_errmsg(db_));
    }
    tx.commit();
  }

  std::vector<DeadToken> dead_token(const std::string& token, std::int64_t now_ms) override {
    Statement s(db_, "SELECT app, until_ms FROM dead_tokens WHERE token = ?1 AND until_ms > ?2 ORDER BY app");
    s.bind(1, token).bind(2, now_ms);
    std::vector<DeadToken> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(DeadToken{s.text(0), s.integer(1)});
    if (rc != SQLITE_DONE) throw StoreError(std::string("SQLite lookup: ") + sqlite3_errmsg(db_));
    return out;
  }

  std::vector<std::pair<std::string, std::uint64_t>> count_by_app() override {
    Statement s(db_, "SELECT app, COUNT(*) FROM registrations GROUP BY app ORDER BY app");
    std::vector<std::pair<std::string, std::uint64_t>> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.emplace_back(s.text(0), static_cast<std::uint64_t>(s.integer(1)));
    if (rc != SQLITE_DONE) throw StoreError(std::string("SQLite count: ") + sqlite3_errmsg(db_));
    return out;
  }

  std::uint64_t remove_device(const DeviceKey& key) override {
    // Rows from before migration 2 have no owner hash: their muc-less registration still
    // matches by device hash.
    DeviceKey own = key;
    own.muc.clear();
    Statement s(db_, "DELETE FROM registrations WHERE owner_hash = ?1 OR device_hash = ?2");
    s.bind(1, registration_owner_hash(key)).bind(2, registration_device_hash(own));
    if (s.step() != SQLITE_DONE) throw StoreError(std::string("SQLite delete: ") + sqlite3_errmsg(db_));
    return static_cast<std::uint64_t>(sqlite3_changes(db_));
  }

  std::uint64_t remove_token(const std::string& token) override {
    Statement s(db_, "DELETE FROM registrations WHERE token = ?1 OR (voip_token = ?1 AND voip_token <> '')");
    s.bind(1, token);
    if (s.step() != SQLITE_DONE) throw StoreError(std::string("SQLite delete: ") + sqlite3_errmsg(db_));
    return static_cast<std::uint64_t>(sqlite3_changes(db_));
  }

 private:
  // BEGIN IMMEDIATE … COMMIT; rolled back when left without commit() (an error, a refusal).
  class Transaction {
   public:
    explicit Transaction(SqliteStore& store) : store_(store) { store_.exec("BEGIN IMMEDIATE"); }
    ~Transaction() {
      if (!done_) sqlite3_exec(store_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit() {
      store_.exec("COMMIT");
      done_ = true;
    }

   private:
    SqliteStore& store_;
    bool done_ = false;
  };
  // The single integer a query with text parameters ?1, ?2… answers.
  template <class... Params>
  std::int64_t count(const char* sql, const Params&... params) {
    Statement s(db_, sql);
    int i = 0;
    (s.bind(++i, params), ...);
    if (s.step() != SQLITE_ROW) throw StoreError(std::string("SQLite count: ") + sqlite3_errmsg(db_));
    return s.integer(0);
  }
  static Registration row(Statement& s) {
    return Registration{s.text(0),    s.text(1), s.text(2), s.text(3), s.text(4),
                        s.integer(5), s.text(6), s.text(7), s.text(8)};
  }
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string why = err ? err : "unknown";
      sqlite3_free(err);
      throw StoreError(std::string("SQLite: ") + why);
    }
  }

  sqlite3* db_ = nullptr;
  std::unique_ptr<Statement> find_;
  std::atomic<bool> interrupted_{false};
};

}  // namespace

std::unique_ptr<RegistrationStore> open_sqlite_store(const std::string& path) {
  return std::make_unique<SqliteStore>(path);
}

}  // namespace pushgate
