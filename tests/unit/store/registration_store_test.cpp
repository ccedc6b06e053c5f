// Tests for src/store/{sqlite,postgres}_store.cpp, one suite for both stores: registrations
// survive a reopen, keep their node and secret, are looked up per domain, and die only if not
// re-registered since. PostgreSQL runs against the real server tests/run.sh starts
// (PUSHGATE_TEST_POSTGRES_URL); without it the PostgreSQL case fails, never skips.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <vector>
#include <fstream>

#include <sqlite3.h>

#include "store/registration_store.hpp"

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
  CHECK(sqlite3_column_int(st, 0) == 2);
  sqlite3_finalize(st);
  sqlite3_close(raw);
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
  CHECK(std::string(PQgetvalue(r, 0, 0)) == "2");
  PQclear(r);
  PQclear(PQexec(c, "DROP SCHEMA v1test CASCADE"));
  PQfinish(c);
}
#endif
