// The PostgreSQL registration store (libpq), so several pushgate nodes behind several
// Prosody nodes share registrations. Calls are synchronous on the loop thread: one round
// trip per publish to a registered node, to a database meant to be close by.
#include "store/registration_store.hpp"

#ifdef PUSHGATE_HAVE_POSTGRESQL

#include <libpq-fe.h>

#include <vector>

namespace pushgate {
namespace {

constexpr int kSchemaVersion = 2;

class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  PGresult* get() const { return r_; }
  bool ok() const {
    auto s = PQresultStatus(r_);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
  int rows() const { return PQntuples(r_); }
  std::string text(int row, int col) const { return PQgetvalue(r_, row, col); }

 private:
  PGresult* r_;
};

class PostgresStore final : public RegistrationStore {
 public:
  explicit PostgresStore(const std::string& url) : url_(url) {
    connect();
    exec("SELECT pg_advisory_lock(7364915)");  // one migrating node at a time
    exec("CREATE TABLE IF NOT EXISTS pushgate_schema_version (version INTEGER NOT NULL)");
    Result v = query("SELECT version FROM pushgate_schema_version", {});
    int version = v.rows() > 0 ? std::stoi(v.text(0, 0)) : 0;
    if (version > kSchemaVersion) {
      exec("SELECT pg_advisory_unlock(7364915)");
      throw StoreError("[store] the database has schema version " + std::to_string(version) +
                       ", newer than this pushgate understands: upgrade pushgate");
    }
    if (version < 1) {
      exec("BEGIN");
      exec("CREATE TABLE registrations (device_hash TEXT PRIMARY KEY, domain TEXT NOT NULL, app TEXT NOT NULL, "
           "token TEXT NOT NULL, node TEXT NOT NULL, secret TEXT NOT NULL, updated_ms BIGINT NOT NULL)");
      exec("CREATE UNIQUE INDEX registrations_by_node ON registrations (domain, node)");
      exec("DELETE FROM pushgate_schema_version");
      exec("INSERT INTO pushgate_schema_version (version) VALUES (1)");
      exec("COMMIT");
    }
    if (version < 2) {
      // Migration 2: a second token for calls (Tigase's device-second-token, PushKit).
      exec("BEGIN");
      exec("ALTER TABLE registrations ADD COLUMN voip_token TEXT NOT NULL DEFAULT ''");
      exec("ALTER TABLE registrations ADD COLUMN owner_hash TEXT NOT NULL DEFAULT ''");
      exec("CREATE INDEX registrations_by_owner ON registrations (owner_hash)");
      exec("DELETE FROM pushgate_schema_version");
      exec("INSERT INTO pushgate_schema_version (version) VALUES (2)");
      exec("COMMIT");
    }
    exec("SELECT pg_advisory_unlock(7364915)");
  }
  ~PostgresStore() override { PQfinish(conn_); }

  Registration upsert(const DeviceKey& key, const Enrollment& e, std::int64_t now_ms) override {
    // A new device gets fresh ids; a known one keeps its node and secret (ON CONFLICT).
    Result r = query(
        "INSERT INTO registrations (device_hash, domain, app, token, node, secret, updated_ms, voip_token, owner_hash) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (device_hash) DO UPDATE SET app = EXCLUDED.app, "
        "token = EXCLUDED.token, updated_ms = EXCLUDED.updated_ms, voip_token = EXCLUDED.voip_token, "
        "owner_hash = EXCLUDED.owner_hash RETURNING node, secret, domain, app, token, updated_ms, voip_token",
        {registration_device_hash(key), key.domain, e.app, e.token, registration_random_id(12),
         e.node_only ? "" : registration_random_id(16), std::to_string(now_ms), e.voip_token,
         registration_owner_hash(key)});
    if (r.rows() != 1) throw StoreError("PostgreSQL upsert returned no row");
    return row(r, 0);
  }

  bool remove(const DeviceKey& key) override {
    Result r = query("DELETE FROM registrations WHERE device_hash = $1", {registration_device_hash(key)});
    return std::string(PQcmdTuples(r.get())) != "0";
  }

  std::optional<Registration> find(const std::string& domain, const std::string& node) override {
    Result r = query("SELECT node, secret, domain, app, token, updated_ms, voip_token FROM registrations WHERE domain = $1 AND node = $2",
                     {domain, node});
    if (r.rows() == 0) return std::nullopt;
    return row(r, 0);
  }

  std::optional<Registration> find_node(const std::string& node) override {
    Result r = query("SELECT node, secret, domain, app, token, updated_ms, voip_token FROM registrations WHERE node = $1 LIMIT 1",
                     {node});
    if (r.rows() == 0) return std::nullopt;
    return row(r, 0);
  }

  bool remove_dead(const std::string& domain, const std::string& node, std::int64_t failed_ms) override {
    Result r = query("DELETE FROM registrations WHERE domain = $1 AND node = $2 AND updated_ms <= $3",
                     {domain, node, std::to_string(failed_ms)});
    return std::string(PQcmdTuples(r.get())) != "0";
  }

  std::uint64_t count() override {
    Result r = query("SELECT COUNT(*) FROM registrations", {});
    return r.rows() > 0 ? std::stoull(r.text(0, 0)) : 0;
  }

  std::vector<std::pair<std::string, std::uint64_t>> count_by_app() override {
    Result r = query("SELECT app, COUNT(*) FROM registrations GROUP BY app ORDER BY app", {});
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.text(i, 0), std::stoull(r.text(i, 1)));
    return out;
  }

  std::uint64_t remove_device(const DeviceKey& key) override {
    DeviceKey own = key;  // rows from before migration 2 match by their muc-less device hash
    own.muc.clear();
    Result r = query("DELETE FROM registrations WHERE owner_hash = $1 OR device_hash = $2",
                     {registration_owner_hash(key), registration_device_hash(own)});
    return std::stoull(PQcmdTuples(r.get()));
  }

  std::uint64_t remove_token(const std::string& token) override {
    Result r = query("DELETE FROM registrations WHERE token = $1 OR (voip_token = $1 AND voip_token <> '')", {token});
    return std::stoull(PQcmdTuples(r.get()));
  }

 private:
  void connect() {
    conn_ = PQconnectdb(url_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string why = PQerrorMessage(conn_);
      PQfinish(conn_);
      conn_ = nullptr;
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      throw StoreError("[store] url: cannot connect to PostgreSQL: " + why);
    }
  }
  // One retry after a lost connection (a database restart), then the error.
  Result query(const char* sql, const std::vector<std::string>& params) {
    for (int attempt = 0;; ++attempt) {
      std::vector<const char*> values;
      for (const auto& p : params) values.push_back(p.c_str());
      Result r(PQexecParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
      if (r.ok()) return r;
      if (attempt == 0 && PQstatus(conn_) != CONNECTION_OK) {
        PQreset(conn_);
        continue;
      }
      throw StoreError(std::string("PostgreSQL: ") + PQresultErrorMessage(r.get()));
    }
  }
  void exec(const char* sql) { query(sql, {}); }
  static Registration row(const Result& r, int i) {
    return Registration{r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), std::stoll(r.text(i, 5)),
                        r.text(i, 6)};
  }

  std::string url_;
  PGconn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<RegistrationStore> open_postgres_store(const std::string& url) {
  return std::make_unique<PostgresStore>(url);
}

}  // namespace pushgate

#else

namespace pushgate {
std::unique_ptr<RegistrationStore> open_postgres_store(const std::string&) {
  throw StoreError("[store] url: this pushgate was built without PostgreSQL (install libpq-dev and rebuild)");
}
}  // namespace pushgate

#endif
