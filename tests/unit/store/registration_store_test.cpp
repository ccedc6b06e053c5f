// Tests for src/store/{sqlite,postgres}_store.cpp, one suite for both stores: registrations
// survive a reopen, keep their node and secret, are looked up per domain, and die only if not
// re-registered since. PostgreSQL runs against the real server tests/run.sh starts
// (PUSHGATE_TEST_POSTGRES_URL); without it the PostgreSQL case fails, never skips.
#include <doctest/doctest.h>

#include <future>
#include <thread>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

#include <sqlite3.h>

#include "store/registration_store.hpp"
#include "support/loop_wait.hpp"

using namespace pushgate;

namespace {
struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/pushgate-store-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};
const DeviceKey kPhone{"example.org", "alice@example.org", "phone-1", ""};

// Opens the store under test; `fresh` empties it first.
using Opener = std::function<std::unique_ptr<RegistrationStore>(bool fresh)>;

std::vector<std::pair<std::string, Opener>> stores(const std::string& dir) {
  std::vector<std::pair<std::string, Opener>> out;
  out.emplace_back("sqlite", [dir](bool fresh) {
    if (fresh) std::filesystem::remove(dir + "/suite.db");
    return open_sqlite_store(dir + "/suite.db");
  });
  const char* url = std::getenv("PUSHGATE_TEST_POSTGRES_URL");
  out.emplace_back("postgresql", [url](bool fresh) -> std::unique_ptr<RegistrationStore> {
    if (url == nullptr) FAIL("PUSHGATE_TEST_POSTGRES_URL is not set: run the suite with tests/run.sh, which starts PostgreSQL");
    auto s = open_postgres_store(url);
    if (fresh) {
      // Empty it through the interface's own means: remove every device the suite uses.
      for (const char* dev : {"phone-1", "phone-2", "tablet", "tigase:messenger:apns:1 apns-token"}) {
        s->remove_device(DeviceKey{"example.org", "alice@example.org", dev, ""});
      }
    }
    return s;
  });
  return out;
}
}  // namespace

TEST_CASE("both stores: register, reopen, re-register, domains, dead tokens") {
  TempDir d;
  for (auto& [name, open] : stores(d.path)) {
    CAPTURE(name);
    Registration first;
    {
      auto s = open(true);
      first = s->upsert(kPhone, "android", "token-A", 1000);
      CHECK(first.node.size() >= 16);
      CHECK(first.secret.size() >= 21);
      auto other = s->upsert(DeviceKey{"example.org", "alice@example.org", "phone-2", ""}, "android", "token-B", 1000);
      CHECK(other.node != first.node);
    }
    auto s = open(false);  // a restart
    auto found = s->find("example.org", first.node);
    REQUIRE(found);
    CHECK(found->token == "token-A");
    CHECK(found->app == "android");
    auto again = s->upsert(kPhone, "ios", "token-C", 3000);
    CHECK(again.node == first.node);
    CHECK(again.secret == first.secret);
    CHECK(s->find("example.org", first.node)->token == "token-C");
    CHECK_FALSE(s->find("evil.example", first.node));
    REQUIRE(s->find_node(first.node));  // the local API's lookup, by node alone
    CHECK(s->find_node(first.node)->domain == "example.org");
    CHECK_FALSE(s->find_node("no-such-node"));
    CHECK_FALSE(s->remove_dead("example.org", first.node, 2000));  // re-registered after the failure
    CHECK(s->remove_dead("example.org", first.node, 4000));
    CHECK_FALSE(s->find("example.org", first.node));
    CHECK(s->remove(DeviceKey{"example.org", "alice@example.org", "phone-2", ""}));
    CHECK_FALSE(s->remove(DeviceKey{"example.org", "alice@example.org", "phone-2", ""}));
  }
}

TEST_CASE("both stores: the shared dead-token list marks a token dead per app until an expiry, and the lookup brings it") {
  TempDir d;
  for (auto& [name, open] : stores(d.path)) {
    CAPTURE(name);
    // PostgreSQL is shared with other tests and runs: tokens of this run alone.
    const std::string token = "dead-" + registration_random_id(12), other = "alive-" + registration_random_id(12);
    {
      auto s = open(true);
      CHECK(s->dead_token(token, 1000).empty());
      s->mark_token_dead("ios", token, 5000, 1000);
      s->mark_token_dead("ios", token, 3000, 1000);  // a later, shorter mark never shortens it
      s->mark_token_dead("voip", token, 2000, 1000);
    }
    auto s = open(false);  // another node, or a restart: the marks are in the store
    auto dead = s->dead_token(token, 1500);
    REQUIRE(dead.size() == 2);
    CHECK(dead[0].app == "ios");
    CHECK(dead[0].until_ms == 5000);
    CHECK(dead[1].app == "voip");
    CHECK(dead[1].until_ms == 2000);
    CHECK(s->dead_token(token, 2000).size() == 1);  // expired at its until
    CHECK(s->dead_token(token, 5000).empty());
    CHECK(s->dead_token(other, 1500).empty());

    // The publish's lookup: no registration, the dead marks of the node as a token.
    const std::string domain = "example.org";
    auto looked = s->lookup_node(&domain, token, 1500);
    CHECK_FALSE(looked.registration);
    CHECK(looked.dead.size() == 2);
    looked = s->lookup_node(nullptr, token, 1500);  // the local API's, by node alone
    CHECK(looked.dead.size() == 2);
    CHECK(s->lookup_node(&domain, other, 1500).dead.empty());

    // A registered node comes back with its registration and no dead marks.
    auto reg = s->upsert(kPhone, "android", "token-A", 1000);
    looked = s->lookup_node(&domain, reg.node, 1500);
    REQUIRE(looked.registration);
    CHECK(looked.registration->token == "token-A");
    CHECK(looked.dead.empty());
    REQUIRE(s->lookup_node(nullptr, reg.node, 1500).registration);
    const std::string evil = "evil.example";
    CHECK_FALSE(s->lookup_node(&evil, reg.node, 1500).registration);

    // A token dead again after its mark expired is marked afresh, and the expired marks of
    // other tokens are purged by the next mark.
    s->mark_token_dead("ios", other, 9000, 6000);
    CHECK(s->dead_token(other, 8000).size() == 1);
    s->mark_token_dead("ios", token, 20000, 10000);  // token's own expired mark is renewed
    CHECK(s->dead_token(token, 10000).size() == 1);
    CHECK(s->dead_token(other, 0).empty());  // other's expired mark was purged by that mark
    CHECK(s->remove(kPhone));
  }
}

TEST_CASE("a registration gets a random node and secret, survives a reopen, and keeps them on re-registration") {
  TempDir d;
  std::string db = d.path + "/pushgate.db";
  Registration first;
  {
    auto s = open_sqlite_store(db);
    first = s->upsert(kPhone, "android", "token-A", 1000);
    CHECK(first.node.size() >= 16);    // 12 random bytes, base64url
    CHECK(first.secret.size() >= 21);  // 16 random bytes
    CHECK(first.node != first.secret);
    auto other = s->upsert(DeviceKey{"example.org", "alice@example.org", "phone-2", ""}, "android", "token-B", 1000);
    CHECK(other.node != first.node);
    CHECK(s->count() == 2);
  }
  auto s = open_sqlite_store(db);
  auto found = s->find("example.org", first.node);
  REQUIRE(found);
  CHECK(found->token == "token-A");
  CHECK(found->secret == first.secret);
  auto again = s->upsert(kPhone, "android", "token-C", 2000);
  CHECK(again.node == first.node);
  CHECK(again.secret == first.secret);
  CHECK(s->find("example.org", first.node)->token == "token-C");
}

TEST_CASE("another server cannot use a node it did not register") {
  TempDir d;
  auto s = open_sqlite_store(d.path + "/p.db");
  auto r = s->upsert(kPhone, "ios", "tok", 1);
  CHECK(s->find("example.org", r.node));
  CHECK_FALSE(s->find("evil.example", r.node));
  CHECK_FALSE(s->find("example.org", "no-such-node"));
}

TEST_CASE("a dead token removes the registration unless the device re-registered after the failure") {
  TempDir d;
  auto s = open_sqlite_store(d.path + "/p.db");
  auto r = s->upsert(kPhone, "ios", "old", 1000);
  s->upsert(kPhone, "ios", "new", 3000);           // re-registered at 3000
  CHECK_FALSE(s->remove_dead("example.org", r.node, 2000));  // APNs says dead since 2000: too old
  CHECK(s->find("example.org", r.node));
  CHECK(s->remove_dead("example.org", r.node, 4000));
  CHECK_FALSE(s->find("example.org", r.node));
  CHECK_FALSE(s->remove(kPhone));
}

TEST_CASE("the store never holds the JID, and names an unusable path") {
  TempDir d;
  std::string db = d.path + "/p.db";
  {
    auto s = open_sqlite_store(db);
    s->upsert(kPhone, "ios", "tok", 1);
  }
  std::ifstream in(db, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ifstream wal(db + "-wal", std::ios::binary);
  bytes.append((std::istreambuf_iterator<char>(wal)), std::istreambuf_iterator<char>());
  CHECK(bytes.find("alice@example.org") == std::string::npos);
  CHECK(bytes.find("phone-1") == std::string::npos);
  try {
    open_sqlite_store("/nonexistent-dir/p.db");
    FAIL("opened a database in a directory that does not exist");
  } catch (const StoreError& e) {
    CHECK(std::string(e.what()).find("/nonexistent-dir/p.db") != std::string::npos);
  }
}

TEST_CASE("both stores: a node-only registration (Tigase) has no secret and keeps a second token for calls") {
  TempDir d;
  const DeviceKey key{"example.org", "alice@example.org", "tigase:messenger:apns:1 apns-token", ""};
  for (auto& [name, open] : stores(d.path)) {
    CAPTURE(name);
    auto s = open(true);
    Registration r = s->upsert(key, Enrollment{"ios", "apns-token", "pushkit-token", true}, 1000);
    CHECK(r.secret.empty());
    CHECK(r.node.size() >= 16);
    auto found = s->find("example.org", r.node);
    REQUIRE(found);
    CHECK(found->secret.empty());
    CHECK(found->token == "apns-token");
    CHECK(found->voip_token == "pushkit-token");
    // Registering again without a PushKit token keeps the node and forgets the old call token.
    Registration again = s->upsert(key, Enrollment{"ios", "apns-token", "", true}, 2000);
    CHECK(again.node == r.node);
    CHECK(s->find("example.org", r.node)->voip_token.empty());
    // A p2 registration still gets a secret and no call token.
    Registration p2 = s->upsert(kPhone, "ios", "tok", 1);
    CHECK(p2.secret.size() >= 21);
    CHECK(p2.voip_token.empty());
    CHECK(s->remove(key));
  }
}

TEST_CASE("a version 1 SQLite database is migrated: its registrations stay, with no call token") {
  TempDir d;
  std::string db = d.path + "/v1.db";
  {
    // The schema and a row exactly as pushgate's migration 1 wrote them.
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
    const char* v1 =
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        "INSERT INTO schema_version (version) VALUES (1);"
        "CREATE TABLE registrations (device_hash TEXT PRIMARY KEY, domain TEXT NOT NULL, app TEXT NOT NULL, "
        "token TEXT NOT NULL, node TEXT NOT NULL, secret TEXT NOT NULL, updated_ms INTEGER NOT NULL);"
        "CREATE UNIQUE INDEX registrations_by_node ON registrations (domain, node);"
        "INSERT INTO registrations VALUES ('h', 'example.org', 'ios', 'old-token', 'old-node', 'old-secret', 5);";
    REQUIRE(sqlite3_exec(raw, v1, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  {
    auto s = open_sqlite_store(db);
    auto found = s->find("example.org", "old-node");
    REQUIRE(found);
    CHECK(found->secret == "old-secret");
    CHECK(found->token == "old-token");
    CHECK(found->voip_token.empty());
  }
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, "SELECT version FROM schema_version", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int(st, 0) == 5);
  sqlite3_finalize(st);
  sqlite3_close(raw);
}

// Migrations 1 to 3 exactly as pushgate wrote them, and one registration of kPhone.
const char* const kSchemaV3 =
    "CREATE TABLE registrations (device_hash TEXT PRIMARY KEY, domain TEXT NOT NULL, app TEXT NOT NULL, "
    "token TEXT NOT NULL, node TEXT NOT NULL, secret TEXT NOT NULL, updated_ms BIGINT NOT NULL);"
    "CREATE UNIQUE INDEX registrations_by_node ON registrations (domain, node);"
    "ALTER TABLE registrations ADD COLUMN voip_token TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE registrations ADD COLUMN owner_hash TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX registrations_by_owner ON registrations (owner_hash);"
    "ALTER TABLE registrations ADD COLUMN user_hash TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX registrations_by_user ON registrations (user_hash, app);";

std::string v3_row(const std::string& table) {
  return "INSERT INTO " + table + " (device_hash, domain, app, token, node, secret, updated_ms) VALUES ('" +
         registration_device_hash(kPhone) + "', 'example.org', 'android', 'old-token', 'old-node', 'old-secret', 5);";
}

// After migration 4 an old row has no account until its device registers again, which keeps
// its node and secret and fills account and channel.
void check_v3_row_migrated(RegistrationStore& s) {
  auto found = s.find("example.org", "old-node");
  REQUIRE(found);
  CHECK(found->secret == "old-secret");
  CHECK(found->account.empty());
  CHECK(found->channel.empty());
  std::string account = p2_account_id(kPhone.bare_jid, kPhone.device_id);
  Registration again = s.upsert(kPhone, Enrollment{"android", "new-token", "", false, account, ""}, 10);
  CHECK(again.node == "old-node");
  CHECK(again.secret == "old-secret");
  CHECK(again.account == account);
  found = s.find("example.org", "old-node");
  REQUIRE(found);
  CHECK(found->account == account);
  CHECK(found->token == "new-token");
}

TEST_CASE(
    "a version 3 SQLite database is migrated to 4: old rows get account and channel when the device registers again") {
  TempDir d;
  std::string db = d.path + "/v3.db";
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
    std::string v3 = std::string(
                         "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                         "INSERT INTO schema_version (version) VALUES (3);") +
                     kSchemaV3 + v3_row("registrations");
    REQUIRE(sqlite3_exec(raw, v3.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  {
    auto s = open_sqlite_store(db);
    check_v3_row_migrated(*s);
  }
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, "SELECT version FROM schema_version", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int(st, 0) == 5);
  sqlite3_finalize(st);
  sqlite3_close(raw);
}

TEST_CASE("both stores: account and channel are stored with a registration and updated when it registers again") {
  TempDir d;
  const DeviceKey room{"example.org", "alice@example.org", "phone-1", "room@conference.example.org"};
  for (auto& [name, open] : stores(d.path)) {
    CAPTURE(name);
    auto s = open(true);
    Registration r = s->upsert(room, Enrollment{"android", "tok", "", false, "acc-1", "chan-1"}, 1);
    CHECK(r.account == "acc-1");
    CHECK(r.channel == "chan-1");
    auto found = s->find("example.org", r.node);
    REQUIRE(found);
    CHECK(found->account == "acc-1");
    CHECK(found->channel == "chan-1");
    CHECK(s->find_node(r.node)->channel == "chan-1");
    s->upsert(room, Enrollment{"android", "tok", "", false, "acc-2", ""}, 2);
    CHECK(s->find("example.org", r.node)->account == "acc-2");
    CHECK(s->find("example.org", r.node)->channel.empty());
    CHECK(s->remove(room));
  }
}

TEST_CASE("p2_account_id is p2's combineAndHash: lowercase hex SHA-1 of jid, NUL, device id") {
  // sha1("alice@example.org\0" "0123456789abcdef"), computed independently (Python's hashlib).
  CHECK(p2_account_id("alice@example.org", "0123456789abcdef") == "a325d4b42575f2535f81329249e1d4f6ca267a6f");
  CHECK(p2_account_id("", "") == "5ba93c9db0cff93f52b521d7420e43f6eda2784f");  // sha1("\0")
  CHECK(p2_account_id("a", "bc") != p2_account_id("ab", "c"));                 // the NUL keeps the two apart
}

TEST_CASE("both stores: Conversations leaves a group chat by its channel; the device's own registration stays") {
  TempDir d;
  const DeviceKey own{"example.org", "alice@example.org", "tablet", ""};
  const DeviceKey room{"example.org", "alice@example.org", "tablet", "room@muc.example.org"};
  const std::string channel = p2_account_id("room@muc.example.org", "tablet");
  for (auto& [name, open] : stores(d.path)) {
    CAPTURE(name);
    auto s = open(true);
    Registration mine = s->upsert(own, Enrollment{"android", "tok", "", false, p2_account_id("alice@example.org", "tablet"), ""}, 1);
    Registration group = s->upsert(room, Enrollment{"android", "tok", "", false, mine.account, channel}, 1);
    CHECK_FALSE(s->remove_channel(own, p2_account_id("other@muc.example.org", "tablet")));
    CHECK_FALSE(s->remove_channel(DeviceKey{"example.org", "bob@example.org", "tablet", ""}, channel));  // bob's is not alice's
    CHECK(s->remove_channel(own, channel));
    CHECK_FALSE(s->find("example.org", group.node));
    CHECK(s->find("example.org", mine.node));
    CHECK_FALSE(s->remove_channel(own, ""));
    s->remove_device(own);
  }
}

TEST_CASE("both stores: counts per app, and forgetting a device (with its group chats) or a token") {
  TempDir d;
  const DeviceKey tablet{"example.org", "alice@example.org", "tablet", ""};
  const DeviceKey tablet_room{"example.org", "alice@example.org", "tablet", "room@muc.example.org"};
  for (auto& [name, open] : stores(d.path)) {
    CAPTURE(name);
    auto s = open(true);
    s->upsert(kPhone, "android", "phone-token", 1);
    s->upsert(tablet, "ios", "tablet-token", 1);
    s->upsert(tablet_room, "ios", "tablet-token", 1);
    s->upsert(DeviceKey{"example.org", "alice@example.org", "phone-2", ""}, Enrollment{"ios", "t2", "pushkit-2", true}, 1);
    auto counts = s->count_by_app();
    REQUIRE(counts.size() == 2);
    CHECK(counts[0] == std::pair<std::string, std::uint64_t>{"android", 1});
    CHECK(counts[1] == std::pair<std::string, std::uint64_t>{"ios", 3});
    CHECK(s->remove_device(tablet) == 2);  // its own registration and its group chat's
    CHECK(s->remove_device(tablet) == 0);
    CHECK(s->remove_token("pushkit-2") == 1);  // a call token counts too
    CHECK(s->remove_token("") == 0);           // never "every registration without a call token"
    CHECK(s->remove_token("phone-token") == 1);
    CHECK(s->count() == 0);
  }
}

TEST_CASE("both stores: a user's devices per app are limited; a known device, other apps and other users are not") {
  TempDir d;
  const std::string user = "quota-" + registration_random_id(6) + "@example.org";
  auto dev = [&](int i, const std::string& muc = "") {
    return DeviceKey{"example.org", user, "dev-" + std::to_string(i), muc};
  };
  for (auto& [name, open] : stores(d.path)) {
    CAPTURE(name);
    auto s = open(true);
    std::vector<Registration> regs;
    for (int i = 0; i < 3; ++i) {
      auto r = s->register_device(dev(i), Enrollment{"ios", "tok-" + std::to_string(i), "", false}, 1, 3);
      REQUIRE(std::holds_alternative<Registration>(r));
      regs.push_back(std::get<Registration>(r));
    }
    CHECK(s->count_devices(dev(0), "ios") == 3);
    auto refused = s->register_device(dev(3), Enrollment{"ios", "tok-3", "", false}, 1, 3);
    REQUIRE(std::holds_alternative<QuotaExceeded>(refused));
    CHECK(std::get<QuotaExceeded>(refused).limit == QuotaExceeded::Limit::DevicesPerUser);
    CHECK(std::get<QuotaExceeded>(refused).max == 3);
    CHECK(s->count_devices(dev(0), "ios") == 3);  // nothing was stored
    // A device registered before may change its token; its group chats are not new devices.
    auto again = s->register_device(dev(0), Enrollment{"ios", "tok-new", "", false}, 2, 3);
    REQUIRE(std::holds_alternative<Registration>(again));
    CHECK(std::get<Registration>(again).node == regs[0].node);
    CHECK(s->find("example.org", regs[0].node)->token == "tok-new");
    CHECK(std::holds_alternative<Registration>(
        s->register_device(dev(1, "room@muc.example.org"), Enrollment{"ios", "tok-1", "", false}, 2, 3)));
    // Another app, and another user, count on their own.
    CHECK(
        std::holds_alternative<Registration>(s->register_device(dev(3), Enrollment{"android", "t", "", false}, 1, 3)));
    DeviceKey bob{"example.org", "bob-" + user, "dev-9", ""};
    CHECK(std::holds_alternative<Registration>(s->register_device(bob, Enrollment{"ios", "t", "", false}, 1, 3)));
    // A device that leaves makes room.
    CHECK(s->remove_device(dev(2)) == 1);
    CHECK(
        std::holds_alternative<Registration>(s->register_device(dev(3), Enrollment{"ios", "tok-3", "", false}, 1, 3)));
    for (int i = 0; i < 4; ++i) s->remove_device(dev(i));
    s->remove_device(bob);
  }
}

TEST_CASE("both stores: registrations of one user arriving at once from two connections never pass the limit") {
  TempDir d;
  const std::string user = "race-" + registration_random_id(6) + "@example.org";
  for (auto& [name, open] : stores(d.path)) {
    CAPTURE(name);
    auto a = open(true);
    auto b = open(false);  // a second connection: another pushgate node, or another process
    constexpr int kEach = 12, kMax = 5;
    std::atomic<int> accepted{0};
    std::atomic<bool> go{false};
    auto run = [&](RegistrationStore* s, int first) {
      while (!go) std::this_thread::yield();
      for (int i = first; i < first + kEach; ++i) {
        auto r = s->register_device(DeviceKey{"example.org", user, "dev-" + std::to_string(i), ""},
                                    Enrollment{"ios", "tok", "", false}, 1, kMax);
        if (std::holds_alternative<Registration>(r)) ++accepted;
      }
    };
    std::thread ta(run, a.get(), 0), tb(run, b.get(), 100);
    go = true;
    ta.join();
    tb.join();
    CHECK(accepted == kMax);
    CHECK(a->count_devices(DeviceKey{"example.org", user, "", ""}, "ios") == kMax);
    for (int i = 0; i < 200; ++i) a->remove_device(DeviceKey{"example.org", user, "dev-" + std::to_string(i), ""});
  }
}

TEST_CASE("PostgreSQL that accepts TCP but never answers: the connection attempt gives up within its timeout") {
  // A listening socket nobody accepts on: the kernel completes the handshake, and nothing
  // answers libpq's startup packet, as with a stopped server or a black-holed network.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(fd, 8) == 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string url = "postgresql://pushgate@127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/pushgate";
  auto start = std::chrono::steady_clock::now();
  try {
    open_postgres_store(url, PostgresOptions{std::chrono::milliseconds(500)});
    FAIL("connected to a server that never answered");
  } catch (const StoreError& e) {
    CHECK(std::string(e.what()).find("timeout expired") != std::string::npos);
    CHECK(std::string(e.what()).find("[store] url") != std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - start < pushgate::test::kPatience / 2);  // it gave up: no hang
  close(fd);
}

#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>

TEST_CASE("a version 1 PostgreSQL schema is migrated: its registrations stay, with no call token") {
  const char* url = std::getenv("PUSHGATE_TEST_POSTGRES_URL");
  if (url == nullptr) FAIL("PUSHGATE_TEST_POSTGRES_URL is not set: run the suite with tests/run.sh, which starts PostgreSQL");
  // A schema of its own, made exactly as pushgate's migration 1 made it.
  PGconn* c = PQconnectdb(url);
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  const char* v1 =
      "DROP SCHEMA IF EXISTS v1test CASCADE; CREATE SCHEMA v1test; SET search_path = v1test;"
      "CREATE TABLE pushgate_schema_version (version INTEGER NOT NULL);"
      "INSERT INTO pushgate_schema_version (version) VALUES (1);"
      "CREATE TABLE registrations (device_hash TEXT PRIMARY KEY, domain TEXT NOT NULL, app TEXT NOT NULL, "
      "token TEXT NOT NULL, node TEXT NOT NULL, secret TEXT NOT NULL, updated_ms BIGINT NOT NULL);"
      "CREATE UNIQUE INDEX registrations_by_node ON registrations (domain, node);";
  PGresult* r = PQexec(c, v1);
  REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK);
  PQclear(r);
  r = PQexec(c, ("INSERT INTO v1test.registrations VALUES ('" + registration_device_hash(kPhone) +
                 "', 'example.org', 'ios', 'old-token', 'old-node', 'old-secret', 5)").c_str());
  REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK);
  PQclear(r);
  {
    auto s = open_postgres_store(std::string(url) + "?options=-csearch_path%3Dv1test");
    auto found = s->find("example.org", "old-node");
    REQUIRE(found);
    CHECK(found->secret == "old-secret");
    CHECK(found->voip_token.empty());
    CHECK(s->remove_device(kPhone) == 1);  // a row from before the owner hash is still found
  }
  r = PQexec(c, "SELECT version FROM v1test.pushgate_schema_version");
  REQUIRE(PQntuples(r) == 1);
  CHECK(std::string(PQgetvalue(r, 0, 0)) == "5");
  PQclear(r);
  PQclear(PQexec(c, "DROP SCHEMA v1test CASCADE"));
  PQfinish(c);
}

TEST_CASE(
    "a version 3 PostgreSQL schema is migrated to 4: old rows get account and channel when the device registers "
    "again") {
  const char* url = std::getenv("PUSHGATE_TEST_POSTGRES_URL");
  if (url == nullptr)
    FAIL("PUSHGATE_TEST_POSTGRES_URL is not set: run the suite with tests/run.sh, which starts PostgreSQL");
  PGconn* c = PQconnectdb(url);
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  std::string v3 = std::string(
                       "DROP SCHEMA IF EXISTS v3test CASCADE; CREATE SCHEMA v3test; SET search_path = v3test;"
                       "CREATE TABLE pushgate_schema_version (version INTEGER NOT NULL);"
                       "INSERT INTO pushgate_schema_version (version) VALUES (3);") +
                   kSchemaV3 + v3_row("v3test.registrations");
  PGresult* r = PQexec(c, v3.c_str());
  REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK);
  PQclear(r);
  {
    auto s = open_postgres_store(std::string(url) + "?options=-csearch_path%3Dv3test");
    check_v3_row_migrated(*s);
  }
  r = PQexec(c, "SELECT version FROM v3test.pushgate_schema_version");
  REQUIRE(PQntuples(r) == 1);
  CHECK(std::string(PQgetvalue(r, 0, 0)) == "5");
  PQclear(r);
  PQclear(PQexec(c, "DROP SCHEMA v3test CASCADE"));
  PQfinish(c);
}

TEST_CASE("PostgreSQL: a statement past statement_timeout fails with the server's cause, and the store goes on") {
  const char* url = std::getenv("PUSHGATE_TEST_POSTGRES_URL");
  if (url == nullptr)
    FAIL("PUSHGATE_TEST_POSTGRES_URL is not set: run the suite with tests/run.sh, which starts PostgreSQL");
  auto s = open_postgres_store(url, PostgresOptions{std::chrono::milliseconds(500)});
  const DeviceKey key{"example.org", "locked-" + registration_random_id(6) + "@example.org", "phone", ""};
  // Another session holds the user's registration lock (as a registration on another node
  // would, if it never finished): ours waits for it until the server cancels the statement.
  PGconn* c = PQconnectdb(url);
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  std::string user = registration_user_hash(key);
  auto lock = static_cast<std::int32_t>(static_cast<std::uint32_t>(std::stoul(user.substr(0, 8), nullptr, 16)));
  PQclear(PQexec(c, "BEGIN"));
  PQclear(PQexec(c, ("SELECT pg_advisory_xact_lock(7364916, " + std::to_string(lock) + ")").c_str()));
  auto start = std::chrono::steady_clock::now();
  try {
    s->register_device(key, Enrollment{"ios", "tok", "", false}, 1, 20);
    FAIL("registered while another session held the user's lock");
  } catch (const StoreError& e) {
    CHECK(std::string(e.what()).find("canceling statement due to statement timeout") != std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(500));  // the server's own cancel
  PQclear(PQexec(c, "COMMIT"));
  PQfinish(c);
  CHECK(std::holds_alternative<Registration>(s->register_device(key, Enrollment{"ios", "tok", "", false}, 1, 20)));
  CHECK(s->remove_device(key) == 1);
}

TEST_CASE("PostgreSQL: opening waits for another node's migration past the steady statement timeout") {
  const char* url = std::getenv("PUSHGATE_TEST_POSTGRES_URL");
  if (url == nullptr)
    FAIL("PUSHGATE_TEST_POSTGRES_URL is not set: run the suite with tests/run.sh, which starts PostgreSQL");
  // Another node migrating: it holds the migration lock (7364915) for longer than our 300 ms.
  PGconn* other = PQconnectdb(url);
  REQUIRE(PQstatus(other) == CONNECTION_OK);
  PQclear(PQexec(other, "SELECT pg_advisory_lock(7364915)"));
  auto opening = std::async(std::launch::async, [url] {
    return open_postgres_store(url, PostgresOptions{std::chrono::milliseconds(300)}) != nullptr;
  });
  // Until PostgreSQL shows our session waiting for the lock (the event, as the server sees it).
  PGconn* watch = PQconnectdb(url);
  REQUIRE(PQstatus(watch) == CONNECTION_OK);
  bool waiting = false;
  for (auto until = std::chrono::steady_clock::now() + pushgate::test::kPatience;
       !waiting && std::chrono::steady_clock::now() < until;) {
    PGresult* r = PQexec(watch, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7364915 AND NOT granted");
    waiting = PQntuples(r) == 1 && std::string(PQgetvalue(r, 0, 0)) != "0";
    PQclear(r);
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  PQfinish(watch);
  REQUIRE(waiting);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the other node's migration: > 300 ms
  PQclear(PQexec(other, "SELECT pg_advisory_unlock(7364915)"));
  PQfinish(other);
  bool opened = false;
  try {
    opened = opening.get();
  } catch (const StoreError& e) {
    FAIL("opening gave up while another node migrated: " << std::string(e.what()));
  }
  CHECK(opened);
}

TEST_CASE("a PostgreSQL URL reaches the log without user, password or parameters") {
  CHECK(store_url_for_log("postgresql://pushgate:s3cret@db.example:5432/pushgate") == "postgresql://…@db.example:5432/pushgate");
  CHECK(store_url_for_log("postgresql://db.example/pushgate?password=s3cret&sslmode=require") == "postgresql://db.example/pushgate");
  CHECK(store_url_for_log("postgres://u@h/d") == "postgres://…@h/d");
  CHECK(store_url_for_log("password=s3cret host=db") == "postgresql://…");
}

TEST_CASE("PostgreSQL: a refused connection names libpq's cause") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);  // a port nothing listens on
  try {
    open_postgres_store("postgresql://pushgate@127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/pushgate");
    FAIL("connected to a closed port");
  } catch (const StoreError& e) {
    CHECK(std::string(e.what()).find("Connection refused") != std::string::npos);
  }
}
#endif
