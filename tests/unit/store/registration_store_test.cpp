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
      for (const char* dev : {"phone-1", "phone-2", "tablet"}) s->remove(DeviceKey{"example.org", "alice@example.org", dev, ""});
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
