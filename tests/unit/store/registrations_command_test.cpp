// Tests for src/store/registrations_command.cpp: `pushgate registrations` counts per app,
// forgets a device or a token, names what is wrong, and never prints a token.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "../push/test_config.hpp"
#include "store/registration_store.hpp"
#include "store/registrations_command.hpp"

using namespace pushgate;

namespace {
struct Run {
  int status;
  std::string out, err;
};
Run run(const Config& c, RegistrationsRequest r) {
  std::ostringstream out, err;
  int status = run_registrations_command(c, r, out, err);
  return {status, out.str(), err.str()};
}
}  // namespace

TEST_CASE("pushgate registrations: counts per app, then forgets a device and a token") {
  char dir[] = "/tmp/pushgate-regcmd-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  Config c = test::two_app_config();
  c.apps[0].service = ServiceKind::Apns;
  c.store.path = std::string(dir) + "/r.db";
  {
    auto s = open_sqlite_store(c.store.path);
    s->upsert(DeviceKey{"example.org", "alice@example.org", "phone", ""}, "ios", "SECRET-TOKEN-aaaaaa", 1);
    s->upsert(DeviceKey{"example.org", "alice@example.org", "phone", "room@muc.example.org"}, "ios", "SECRET-TOKEN-aaaaaa", 1);
    s->upsert(DeviceKey{"example.org", "bob@example.org", "pc", ""}, "gone", "OTHER-TOKEN-bbbbbb", 1);
  }
  Run counts = run(c, {});
  CHECK(counts.status == 0);
  CHECK(counts.out == "3 registrations\n  gone (not configured: its pushes fail): 1\n  ios (apns): 2\n");

  Run dev = run(c, {"phone", "alice@example.org", ""});
  CHECK(dev.status == 0);
  CHECK(dev.out == "removed 2 registrations of device phone of alice@example.org\n");
  Run tok = run(c, {"", "", "OTHER-TOKEN-bbbbbb"});
  CHECK(tok.status == 0);
  CHECK(tok.out.find("removed 1 registration holding token") == 0);
  CHECK(tok.out.find("OTHER-TOKEN") == std::string::npos);  // the token's last characters at most
  CHECK(run(c, {}).out == "0 registrations\n");

  // What is wrong is named, with the fix.
  Run no_jid = run(c, {"phone", "", ""});
  CHECK(no_jid.status == 1);
  CHECK(no_jid.err.find("--jid") != std::string::npos);
  Run bad_jid = run(c, {"phone", "alice@example.org/phone", ""});
  CHECK(bad_jid.status == 1);
  CHECK(bad_jid.err.find("not a bare JID") != std::string::npos);
  // root must not open a database another user (the daemon's) owns.
  REQUIRE_MESSAGE(geteuid() == 0, "the suite runs as root (tests/run.sh installs packages)");
  REQUIRE(chown(c.store.path.c_str(), 65534, 65534) == 0);
  Run as_root = run(c, {});
  CHECK(as_root.status == 1);
  CHECK(as_root.err.find("runuser -u") != std::string::npos);
  REQUIRE(chown(c.store.path.c_str(), 0, 0) == 0);
  CHECK(run(c, {}).status == 0);
  Config no_store = test::two_app_config();
  Run off = run(no_store, {});
  CHECK(off.status == 1);
  CHECK(off.err.find("[store]") != std::string::npos);
  Config unusable = c;
  unusable.store.path = "/nonexistent-dir/r.db";
  Run broken = run(unusable, {});
  CHECK(broken.status == 1);
  CHECK(broken.err.find("/nonexistent-dir/r.db") != std::string::npos);
  std::filesystem::remove_all(dir);
}
