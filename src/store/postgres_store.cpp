// The PostgreSQL registration store (libpq), so several pushgate nodes behind several
// Prosody nodes share registrations. It runs on the store worker's thread, never on the event
// loop; libpq's non-blocking API lets every wait have a deadline and be interrupted.
#include "store/registration_store.hpp"

#ifdef PUSHGATE_HAVE_POSTGRESQL

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

namespace pushgate {
namespace {

constexpr int kSchemaVersion = 5;
constexpr long long kMigrationLock = 7364915;
constexpr int kQuotaLockClass = 7364916;  // pg_advisory_xact_lock(class, user): one registering user at a time
// Our wait for an answer exceeds the server's statement_timeout by this much, so a server
// that is alive but slow answers with its own cause first.
constexpr std::chrono::milliseconds kAnswerMargin{500};
constexpr std::chrono::milliseconds kFirstBackoff{250}, kMaxBackoff{5000};
// The bound on each statement while the store opens (migrations, waiting for another node's).
constexpr std::chrono::milliseconds kOpeningTimeout{15 * 60 * 1000};

using Clock = std::chrono::steady_clock;

// libpq's messages end in a newline and may hold a hint on a second line: one line here.
std::string one_line(const char* message) {
  std::string out;
  for (const char* p = message; p != nullptr && *p != '\0'; ++p) {
    if (*p == '\n' || *p == '\t' || *p == '\r') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += *p;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.empty() ? "no message from libpq" : out;
}

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
  std::uint64_t changed() const { return std::stoull(PQcmdTuples(r_)); }

 private:
  PGresult* r_;
};

// The connection broke (or was dropped) during a call: the caller may try once more.
struct LostConnection : StoreError {
  using StoreError::StoreError;
};

class PostgresStore final : public RegistrationStore {
 public:
  PostgresStore(const std::string& url, PostgresOptions options) : url_(url), timeout_(options.timeout) {
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) throw StoreError(std::string("eventfd: ") + std::strerror(errno));
    try {
      connect();
    } catch (const StoreError& e) {
      close(wake_fd_);
      throw StoreError(std::string("[store] url: cannot connect to PostgreSQL: ") + e.what());
    }
    // Opening may legitimately take long: another node holds the migration lock while it
    // migrates, or an index is built over a large table. No statement_timeout until the schema
    // is ready (the service manager's start timeout bounds it), then the steady one.
    const std::chrono::milliseconds steady = timeout_;
    try {
      timeout_ = kOpeningTimeout;
      exec("SET statement_timeout = 0");
      open_schema();
      timeout_ = steady;
      exec("SET statement_timeout = " + std::to_string(timeout_.count()));
    } catch (...) {
      drop();  // no destructor runs for an object whose constructor threw
      close(wake_fd_);
      throw;
    }
  }

  // Creates or migrates the schema under the migration lock. Constructor only.
  void open_schema() {
    exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLock) + ")");  // one migrating node at a time
    exec("CREATE TABLE IF NOT EXISTS pushgate_schema_version (version INTEGER NOT NULL)");
    Result v = query("SELECT version FROM pushgate_schema_version", {});
    int version = v.rows() > 0 ? std::stoi(v.text(0, 0)) : 0;
    if (version > kSchemaVersion) {
      exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLock) + ")");
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
    if (version < 3) {
      // Migration 3: the user hash, to count a user's devices per app (max_devices_per_user).
      exec("BEGIN");
      exec("ALTER TABLE registrations ADD COLUMN user_hash TEXT NOT NULL DEFAULT ''");
      exec("CREATE INDEX registrations_by_user ON registrations (user_hash, app)");
      exec("DELETE FROM pushgate_schema_version");
      exec("INSERT INTO pushgate_schema_version (version) VALUES (3)");
      exec("COMMIT");
    }
    if (version < 4) {
      // Migration 4: what the client reads from each push (p2's account hash and group-chat
      // channel, Tigase's bare JID); empty on older rows until their device registers again.
      exec("BEGIN");
      exec("ALTER TABLE registrations ADD COLUMN account TEXT NOT NULL DEFAULT ''");
      exec("ALTER TABLE registrations ADD COLUMN channel TEXT NOT NULL DEFAULT ''");
      exec("DELETE FROM pushgate_schema_version");
      exec("INSERT INTO pushgate_schema_version (version) VALUES (4)");
      exec("COMMIT");
    }
    if (version < 5) {
      // Migration 5: token-as-node tokens a provider called dead, per app, until an expiry,
      // shared by every node: a TokenDead learned by one stops the others pushing to it.
      exec("BEGIN");
      exec("CREATE TABLE dead_tokens (token TEXT NOT NULL, app TEXT NOT NULL, until_ms BIGINT NOT NULL, "
           "PRIMARY KEY (token, app))");
      exec("CREATE INDEX dead_tokens_by_expiry ON dead_tokens (until_ms)");
      exec("DELETE FROM pushgate_schema_version");
      exec("INSERT INTO pushgate_schema_version (version) VALUES (5)");
      exec("COMMIT");
    }
    exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLock) + ")");
  }
  ~PostgresStore() override {
    drop();
    close(wake_fd_);
  }

  std::variant<Registration, QuotaExceeded> register_device(const DeviceKey& key, const Enrollment& e,
                                                            std::int64_t now_ms, std::uint64_t max_devices) override {
    std::string hash = registration_device_hash(key), owner = registration_owner_hash(key);
    std::string user = registration_user_hash(key);
    Transaction tx(*this);
    // Registrations of one user, from any pushgate node, count and insert one at a time.
    auto user_lock = static_cast<std::int32_t>(static_cast<std::uint32_t>(std::stoul(user.substr(0, 8), nullptr, 16)));
    query("SELECT pg_advisory_xact_lock(" + std::to_string(kQuotaLockClass) + ", $1::int)",
          {std::to_string(user_lock)});
    Result updated = query(
        "UPDATE registrations SET app = $2, token = $3, updated_ms = $4, voip_token = $5, owner_hash = $6, user_hash = "
        "$7, account = $8, channel = $9 "
        "WHERE device_hash = $1 RETURNING node, secret, domain, app, token, updated_ms, voip_token, account, channel",
        {hash, e.app, e.token, std::to_string(now_ms), e.voip_token, owner, user, e.account, e.channel});
    if (updated.rows() == 1) {
      tx.commit();
      return row(updated, 0);
    }
    std::uint64_t of_device =
        std::stoull(query("SELECT COUNT(*) FROM registrations WHERE owner_hash = $1", {owner}).text(0, 0));
    if (of_device >= kMaxRegistrationsPerDevice) {
      return QuotaExceeded{QuotaExceeded::Limit::RegistrationsPerDevice, kMaxRegistrationsPerDevice};
    }
    if (max_devices > 0 && of_device == 0 && count_devices_of(user, e.app) >= max_devices) {
      return QuotaExceeded{QuotaExceeded::Limit::DevicesPerUser, max_devices};
    }
    Result r = query(
        "INSERT INTO registrations (device_hash, domain, app, token, node, secret, updated_ms, voip_token, owner_hash, "
        "user_hash, account, channel) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
        "RETURNING node, secret, domain, app, token, updated_ms, voip_token, account, channel",
        {hash, key.domain, e.app, e.token, registration_random_id(12), e.node_only ? "" : registration_random_id(16),
         std::to_string(now_ms), e.voip_token, owner, user, e.account, e.channel});
    if (r.rows() != 1) throw StoreError("PostgreSQL insert returned no row");
    tx.commit();
    return row(r, 0);
  }

  std::uint64_t count_devices(const DeviceKey& user, const std::string& app) override {
    return count_devices_of(registration_user_hash(user), app);
  }

  void ping() override { query("SELECT 1", {}); }

  void interrupt() override {
    interrupted_ = true;
    std::uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof one);
  }

  bool remove(const DeviceKey& key) override {
    return query("DELETE FROM registrations WHERE device_hash = $1", {registration_device_hash(key)}).changed() > 0;
  }

  bool remove_channel(const DeviceKey& device, const std::string& channel) override {
    if (channel.empty()) return false;
    return query("DELETE FROM registrations WHERE owner_hash = $1 AND channel = $2",
                 {registration_owner_hash(device), channel})
               .changed() > 0;
  }

  std::optional<Registration> find(const std::string& domain, const std::string& node) override {
    Result r = query(
        "SELECT node, secret, domain, app, token, updated_ms, voip_token, account, channel FROM registrations WHERE "
        "domain = $1 AND node = $2",
        {domain, node});
    if (r.rows() == 0) return std::nullopt;
    return row(r, 0);
  }

  std::optional<Registration> find_node(const std::string& node) override {
    Result r = query(
        "SELECT node, secret, domain, app, token, updated_ms, voip_token, account, channel FROM registrations WHERE "
        "node = $1 LIMIT 1",
        {node});
    if (r.rows() == 0) return std::nullopt;
    return row(r, 0);
  }

  bool remove_dead(const std::string& domain, const std::string& node, std::int64_t failed_ms) override {
    return query("DELETE FROM registrations WHERE domain = $1 AND node = $2 AND updated_ms <= $3",
                 {domain, node, std::to_string(failed_ms)})
               .changed() > 0;
  }

  void mark_token_dead(const std::string& app, const std::string& token, std::int64_t until_ms,
                       std::int64_t now_ms) override {
    // One statement (one round trip, atomic on its own): purge the other expired marks (an
    // expired mark of this token is overwritten by the upsert), then mark.
    query("WITH purged AS (DELETE FROM dead_tokens WHERE until_ms <= $4 AND NOT (token = $1 AND app = $2)) "
          "INSERT INTO dead_tokens (token, app, until_ms) VALUES ($1, $2, $3) ON CONFLICT (token, app) "
          "DO UPDATE SET until_ms = GREATEST(dead_tokens.until_ms, EXCLUDED.until_ms)",
          {token, app, std::to_string(until_ms), std::to_string(now_ms)});
  }

  std::vector<DeadToken> dead_token(const std::string& token, std::int64_t now_ms) override {
    Result r = query("SELECT app, until_ms FROM dead_tokens WHERE token = $1 AND until_ms > $2 ORDER BY app",
                     {token, std::to_string(now_ms)});
    std::vector<DeadToken> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(DeadToken{r.text(i, 0), std::stoll(r.text(i, 1))});
    return out;
  }

  NodeLookup lookup_node(const std::string* domain, const std::string& node, std::int64_t now_ms) override {
    // The registration and the node's dead-token marks in one round trip: a publish pays no
    // more for the shared dead-token list than it did for the registration alone. Dead-token
    // rows have a NULL node.
    static const std::string kDead =
        " UNION ALL SELECT NULL, NULL, NULL, app, NULL, until_ms, NULL, NULL, NULL FROM dead_tokens WHERE token = $1 "
        "AND until_ms > $2";
    static const std::string kColumns = "SELECT node, secret, domain, app, token, updated_ms, voip_token, account, channel "
                                        "FROM registrations ";
    Result r = domain != nullptr
                   ? query("(" + kColumns + "WHERE node = $1 AND domain = $3)" + kDead,
                           {node, std::to_string(now_ms), *domain})
                   : query("(" + kColumns + "WHERE node = $1 LIMIT 1)" + kDead, {node, std::to_string(now_ms)});
    NodeLookup out;
    for (int i = 0; i < r.rows(); ++i) {
      if (PQgetisnull(r.get(), i, 0) == 0) {
        out.registration = row(r, i);
      } else {
        out.dead.push_back(DeadToken{r.text(i, 3), std::stoll(r.text(i, 5))});
      }
    }
    if (out.registration) out.dead.clear();  // a registered node is never a token-as-node token
    return out;
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
    return query("DELETE FROM registrations WHERE owner_hash = $1 OR device_hash = $2",
                 {registration_owner_hash(key), registration_device_hash(own)})
        .changed();
  }

  std::uint64_t remove_token(const std::string& token) override {
    return query("DELETE FROM registrations WHERE token = $1 OR (voip_token = $1 AND voip_token <> '')", {token})
        .changed();
  }

 private:
  // BEGIN … COMMIT; rolled back when left without commit(). A lost connection rolls back on
  // the server by itself.
  class Transaction {
   public:
    explicit Transaction(PostgresStore& store) : store_(store) {
      store_.exec("BEGIN");
      store_.in_transaction_ = true;
    }
    ~Transaction() {
      store_.in_transaction_ = false;
      if (done_ || store_.conn_ == nullptr) return;
      try {
        store_.exec("ROLLBACK");
      } catch (const StoreError&) {
        store_.drop();  // the server rolls back a transaction whose connection ends
      }
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit() {
      store_.exec("COMMIT");
      done_ = true;
    }

   private:
    PostgresStore& store_;
    bool done_ = false;
  };

  std::uint64_t count_devices_of(const std::string& user_hash, const std::string& app) {
    return std::stoull(query("SELECT COUNT(DISTINCT owner_hash) FROM registrations WHERE user_hash = $1 AND app = $2",
                             {user_hash, app})
                           .text(0, 0));
  }

  std::string ms(std::chrono::milliseconds d) const { return std::to_string(d.count()) + " ms"; }

  void drop() {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }

  // Waits until the connection's socket is ready for `events`. Throws LostConnection (after
  // dropping the connection) at the deadline or on interrupt().
  void wait_socket(short events, Clock::time_point deadline, const char* doing) {
    for (;;) {
      if (interrupted_) {
        drop();
        throw LostConnection("PostgreSQL call abandoned: pushgate is stopping");
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        drop();
        throw LostConnection("timeout expired: PostgreSQL did not answer within " + ms(timeout_) + " (" + doing +
                             "); the connection was dropped and will be re-established");
      }
      pollfd fds[2] = {{PQsocket(conn_), events, 0}, {wake_fd_, POLLIN, 0}};
      int n = poll(fds, 2, static_cast<int>(left.count()) + 1);
      if (n < 0 && errno != EINTR) {
        drop();
        throw LostConnection(std::string("poll: ") + std::strerror(errno));
      }
      if (n > 0 && fds[0].revents != 0) return;
    }
  }

  // Connects within timeout_, then sets the server's statement_timeout. Throws StoreError
  // naming libpq's cause.
  void connect() {
    // Our settings come before the URL, whose own values win (expand_dbname).
    std::string connect_timeout = std::to_string(std::max<long long>(2, (timeout_.count() + 999) / 1000));
    std::string user_timeout = std::to_string(std::max<long long>(5000, timeout_.count()));
    const char* keys[] = {"connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", "dbname",          nullptr};
    const char* values[] = {connect_timeout.c_str(), "1", "5", "2", "3", user_timeout.c_str(), url_.c_str(), nullptr};
    conn_ = PQconnectStartParams(keys, values, 1);
    if (conn_ == nullptr) throw StoreError("libpq could not allocate a connection");
    if (PQstatus(conn_) == CONNECTION_BAD) {
      std::string why = one_line(PQerrorMessage(conn_));
      drop();
      throw StoreError(why);
    }
    auto deadline = Clock::now() + timeout_;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
      if (st == PGRES_POLLING_FAILED) {
        std::string why = one_line(PQerrorMessage(conn_));
        drop();
        throw StoreError(why);
      }
      wait_socket(st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline, "connecting");
      st = PQconnectPoll(conn_);
    }
    PQsetnonblocking(conn_, 1);
    try {
      execute("SET statement_timeout = " + std::to_string(timeout_.count()), {});
    } catch (const StoreError&) {
      drop();  // never keep a connection without its statement_timeout
      throw;
    }
  }

  void ensure_connected() {
    if (conn_ != nullptr) return;
    auto now = Clock::now();
    if (now < next_attempt_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now);
      throw StoreError(last_cause_ + " (next connection attempt in " + ms(left) + ")");
    }
    try {
      connect();
      backoff_ = std::chrono::milliseconds(0);
    } catch (const StoreError& e) {
      backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
      next_attempt_ = Clock::now() + backoff_;
      last_cause_ = e.what();
      throw StoreError(last_cause_);
    }
  }

  // One statement and its one result, within timeout_ (+ margin). Throws LostConnection when
  // the connection broke, StoreError when the statement failed.
  Result execute(const std::string& sql, const std::vector<std::string>& params) {
    auto deadline = Clock::now() + timeout_ + kAnswerMargin;
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    if (PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr,
                          0) == 0) {
      std::string why = one_line(PQerrorMessage(conn_));
      drop();
      throw LostConnection(why);
    }
    for (int f; (f = PQflush(conn_)) != 0;) {
      if (f < 0) {
        std::string why = one_line(PQerrorMessage(conn_));
        drop();
        throw LostConnection(why);
      }
      wait_socket(POLLOUT | POLLIN, deadline, "sending a query");
      PQconsumeInput(conn_);
    }
    std::optional<Result> first;
    for (;;) {
      while (PQisBusy(conn_) != 0) {
        wait_socket(POLLIN, deadline, "waiting for an answer");
        if (PQconsumeInput(conn_) == 0) {
          std::string why = one_line(PQerrorMessage(conn_));
          drop();
          throw LostConnection(why);
        }
      }
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr) break;
      if (!first)
        first.emplace(r);
      else
        PQclear(r);
    }
    if (!first) throw StoreError("PostgreSQL answered nothing");
    if (!first->ok()) {
      std::string why = one_line(PQresultErrorMessage(first->get()));
      if (PQstatus(conn_) == CONNECTION_BAD) {
        drop();
        throw LostConnection(why);
      }
      throw StoreError("PostgreSQL: " + why);
    }
    return std::move(*first);
  }

  // A connection found broken (a database restart) is re-established and the statement sent
  // once more, unless it was inside a transaction; then the error.
  Result query(const std::string& sql, const std::vector<std::string>& params) {
    for (int attempt = 0;; ++attempt) {
      bool was_connected = conn_ != nullptr;
      ensure_connected();
      try {
        return execute(sql, params);
      } catch (const LostConnection& e) {
        bool timed_out = std::strncmp(e.what(), "timeout expired", 15) == 0;
        if (attempt == 0 && was_connected && !in_transaction_ && !timed_out && !interrupted_) continue;
        throw StoreError(e.what());
      }
    }
  }
  void exec(const std::string& sql) { query(sql, {}); }
  static Registration row(const Result& r, int i) {
    return Registration{r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), std::stoll(r.text(i, 5)),
                        r.text(i, 6), r.text(i, 7), r.text(i, 8)};
  }

  std::string url_;
  std::chrono::milliseconds timeout_;
  PGconn* conn_ = nullptr;
  int wake_fd_ = -1;
  std::atomic<bool> interrupted_{false};
  bool in_transaction_ = false;
  std::chrono::milliseconds backoff_{0};
  Clock::time_point next_attempt_{};
  std::string last_cause_;
};

}  // namespace

std::unique_ptr<RegistrationStore> open_postgres_store(const std::string& url, PostgresOptions options) {
  return std::make_unique<PostgresStore>(url, options);
}

}  // namespace pushgate

#else

namespace pushgate {
std::unique_ptr<RegistrationStore> open_postgres_store(const std::string&, PostgresOptions) {
  throw StoreError("[store] url: this pushgate was built without PostgreSQL (install libpq-dev and rebuild)");
}
}  // namespace pushgate

#endif
