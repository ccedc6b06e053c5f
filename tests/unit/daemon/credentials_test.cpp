// Tests for src/daemon/credentials.cpp: the secrets, keys and certificates a parsed
// configuration names are read and checked, and their errors name the key, its line and the fix.
#include "daemon/credentials.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "common/keys.hpp"
#include "support/h2_server.hpp"
#include "support/test_keys.hpp"

using namespace pushgate;

namespace {
struct SecretFile {
  explicit SecretFile(const std::string& value, mode_t mode = 0600) {
    char tmpl[] = "/tmp/pushgate-cred-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size()));
    close(fd);
    chmod(tmpl, mode);
    path = tmpl;
  }
  ~SecretFile() { unlink(path.c_str()); }
  std::string path;
};

// Both steps, as the daemon takes them.
Config load(const std::string& toml, Role role = Role::All) {
  Config c = parse_config(toml, "test.toml", role);
  read_credentials(c);
  return c;
}

std::string error_of(const std::string& toml) {
  try {
    load(toml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("the secrets the files name are read into the configuration") {
  SecretFile comp("compsecret\n"), app("appsecret\n"), push("pushsecret\n");
  auto cfg = load("[component]\njid = \"push.example.com\"\nsecret_file = \"" + comp.path +
                  "\"\n[http]\npush_secret_file = \"" + push.path +
                  "\"\n[[app]]\nname = \"demo\"\nservice = \"log\"\nsecret_file = \"" + app.path + "\"\n");
  CHECK(cfg.component.secret == "compsecret");
  CHECK(cfg.http.push_secret.value() == "pushsecret");
  CHECK(cfg.apps[0].secret.value() == "appsecret");
  CHECK(cfg.warnings.empty());
}

TEST_CASE("secrets come from PUSHGATE_* environment variables when no file is named") {
  setenv("PUSHGATE_COMPONENT_SECRET", "from-env", 1);
  setenv("PUSHGATE_APP_MY_APP_SECRET", "app-env", 1);
  auto cfg = load("[component]\njid = \"push.example.com\"\n[[app]]\nname = \"my-app\"\nservice = \"log\"\n");
  CHECK(cfg.component.secret == "from-env");
  CHECK(cfg.apps[0].secret.value() == "app-env");
  unsetenv("PUSHGATE_COMPONENT_SECRET");
  unsetenv("PUSHGATE_APP_MY_APP_SECRET");
}

TEST_CASE("no component secret, no start") {
  unsetenv("PUSHGATE_COMPONENT_SECRET");
  auto e = error_of("[component]\njid = \"push.example.com\"\n[[app]]\nname = \"a\"\nservice = \"log\"\n");
  CHECK(e.find("[component] has no secret") != std::string::npos);
  CHECK(e.find("PUSHGATE_COMPONENT_SECRET") != std::string::npos);
}

TEST_CASE("a world-readable secret file is refused, naming the key's line") {
  SecretFile comp("c", 0644);
  auto e = error_of("[component]\njid = \"push.example.com\"\nsecret_file = \"" + comp.path +
                    "\"\n[[app]]\nname = \"a\"\nservice = \"log\"\n");
  CHECK(e.find("test.toml:3: [component] secret_file: secret file " + comp.path + " is readable by every user") !=
        std::string::npos);
  CHECK(e.find("chmod") != std::string::npos);
}

TEST_CASE("${CREDENTIALS_DIRECTORY}: the secret is read from systemd's LoadCredential= directory") {
  char dir[] = "/tmp/pushgate-cred-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::string secret_path = std::string(dir) + "/component.secret";
  FILE* f = std::fopen(secret_path.c_str(), "w");
  std::fputs("from-credentials\n", f);
  std::fclose(f);
  chmod(secret_path.c_str(), 0400);
  SecretFile app("a");
  setenv("CREDENTIALS_DIRECTORY", dir, 1);
  Config c = load(
      "[component]\njid = \"p.example\"\nsecret_file = \"${CREDENTIALS_DIRECTORY}/component.secret\"\n"
      "[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" +
      app.path + "\"\n");
  unsetenv("CREDENTIALS_DIRECTORY");
  CHECK(c.component.secret == "from-credentials");
  unlink(secret_path.c_str());
  rmdir(dir);
}

TEST_CASE("an fcm app: the service account is checked at start") {
  SecretFile comp("c"), app("a");
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n";
  std::string head = base + "[[app]]\nname = \"android\"\nservice = \"fcm\"\nsecret_file = \"" + app.path + "\"\n";
  std::string e = error_of(head + "credentials_file = \"/nonexistent/sa.json\"\n");
  CHECK(
      e.find("test.toml:8: [[app]] 'android' credentials_file: credentials file /nonexistent/sa.json cannot be read") !=
      std::string::npos);
  std::string sa = test::write_service_account("https://oauth2.googleapis.com/token");
  Config c = load(head + "credentials_file = \"" + sa + "\"\ncollapse_key = \"chat\"\n");
  CHECK(c.apps[0].service == ServiceKind::Fcm);
  std::string world = test::write_service_account("https://oauth2.googleapis.com/token", 0644);
  CHECK(error_of(head + "credentials_file = \"" + world + "\"\n").find("readable by every user") != std::string::npos);
  CHECK(error_of(head + "credentials_file = \"" + sa + "\"\nca_file = \"/nonexistent/ca.pem\"\n")
            .find("[[app]] 'android' ca_file: cannot be read: /nonexistent/ca.pem") != std::string::npos);
  for (const auto& p : {sa, world}) {
    std::remove(p.c_str());
    std::remove((p + ".pub.pem").c_str());
  }
}

TEST_CASE("an apns app: the .p8 key is loaded at start") {
  SecretFile comp("c"), app("a");
  auto key = test::new_p256_key();
  std::string p8 = test::write_p8(key.get());
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n";
  std::string ios = "[[app]]\nname = \"ios\"\nservice = \"apns\"\nsecret_file = \"" + app.path + "\"\n" +
                    "topic = \"com.example.chat\"\nteam_id = \"9ABCDE1234\"\nkey_id = \"ABC123DEF4\"\n";
  CHECK(load(base + ios + "key_file = \"" + p8 + "\"\n").apps[0].service == ServiceKind::Apns);
  CHECK(error_of(base + ios + "key_file = \"/nonexistent.p8\"\n").find("test.toml:11: [[app]] 'ios' key_file:") !=
        std::string::npos);
  SecretFile not_a_key("not a key");
  CHECK(error_of(base + ios + "key_file = \"" + not_a_key.path + "\"\n").find("[[app]] 'ios' key_file:") !=
        std::string::npos);
  unlink(p8.c_str());
}

TEST_CASE("[store]: SQLite needs its directory, there and writable") {
  SecretFile comp("c"), app("a");
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" + app.path + "\"\n[store]\n";
  CHECK(load(base + "path = \"/tmp/pushgate.db\"\n").warnings.empty());
  CHECK(error_of(base + "path = \"/nonexistent-dir/p.db\"\n")
            .find("[store] path: the directory /nonexistent-dir does not exist") != std::string::npos);
  // PostgreSQL: nothing on disk to check.
  CHECK(load(base + "url = \"postgresql://pushgate@db.example.org/pushgate\"\n").store.kind == StoreKind::Postgresql);
}

TEST_CASE("certificate and key: parsed, matching, valid now, key not world-readable") {
  SecretFile cert("x"), key("x"), other_cert("x"), other_key("x");
  test::write_cert_pair(cert.path, key.path, 90 * 86400);
  test::write_cert_pair(other_cert.path, other_key.path, 90 * 86400);
  long left = check_certificate_pair(cert.path, key.path);
  CHECK(left > 89 * 86400);
  CHECK(left <= 90 * 86400);
  auto error = [](const std::string& c, const std::string& k) {
    try {
      check_certificate_pair(c, k);
    } catch (const KeyError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error(cert.path, other_key.path).find("does not match certificate") != std::string::npos);
  SecretFile garbage("not a certificate");
  CHECK(error(garbage.path, key.path).find("is not a PEM certificate") != std::string::npos);
  CHECK(error(cert.path, garbage.path).find("is not an unencrypted PEM private key") != std::string::npos);
  CHECK(error("/nonexistent/cert.pem", key.path).find("cannot be read") != std::string::npos);
  test::write_cert_pair(other_cert.path, other_key.path, -3600, -7200);
  CHECK(error(other_cert.path, other_key.path).find("has expired") != std::string::npos);
  test::write_cert_pair(other_cert.path, other_key.path, 7200, 3600);
  CHECK(error(other_cert.path, other_key.path).find("not valid yet") != std::string::npos);
  chmod(key.path.c_str(), 0644);
  CHECK(error(cert.path, key.path).find("readable by every user; run: chmod o-rwx") != std::string::npos);
}

TEST_CASE("[http] and [legacy_tls] certificates are checked when the configuration is read; near expiry warns") {
  SecretFile comp("c"), app("a"), cert("x"), key("x"), other_cert("x"), other_key("x");
  test::write_cert_pair(cert.path, key.path, 5 * 86400 - 3600);
  test::write_cert_pair(other_cert.path, other_key.path, 90 * 86400);
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" + app.path + "\"\n";
  Config c = load(base + "[http]\ntls_cert = \"" + cert.path + "\"\ntls_key = \"" + key.path + "\"\n");
  REQUIRE(c.warnings.size() == 2);  // no push_secret_file, and the certificate
  CHECK(c.warnings[0].find("expires in 4 days") != std::string::npos);
  std::string wrong =
      error_of(base + "[http]\ntls_cert = \"" + cert.path + "\"\ntls_key = \"" + other_key.path + "\"\n");
  CHECK(wrong.find("test.toml:10: [http] tls_key: key file " + other_key.path + " does not match certificate") !=
        std::string::npos);
  wrong = error_of(base + "[legacy_tls]\nbackend = \"127.0.0.1:5200\"\ncert_file = \"" + other_cert.path +
                   "\"\nkey_file = \"" + key.path + "\"\n");
  CHECK(wrong.find("[legacy_tls] key_file: key file") != std::string::npos);
  CHECK(error_of(base + "[http]\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"" + key.path + "\"\n")
            .find("[http] tls_cert: cannot be read: /nonexistent/c.pem") != std::string::npos);
}

TEST_CASE("--only: each role reads only its own files") {
  SecretFile comp("c"), app("a"), cert("x"), key("x");
  test::write_cert_pair(cert.path, key.path, 90 * 86400);
  std::string push = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" + app.path + "\"\n";
  std::string legacy = "[legacy_tls]\nbackend = \"127.0.0.1:5200\"\ncert_file = \"" + cert.path + "\"\nkey_file = \"" +
                       key.path + "\"\n";
  // The legacy unit never reads the push secrets: an unreadable one does not stop it.
  std::string unreadable = "[component]\njid = \"p.example\"\nsecret_file = \"/nonexistent/secret\"\n";
  Config l = load(unreadable + legacy, Role::LegacyTls);
  CHECK(l.legacy_tls.enabled);
  CHECK(l.component.secret.empty());
  CHECK_THROWS_WITH_AS(load(unreadable + "[[app]]\nname = \"x\"\nservice = \"log\"\n" + legacy),
                       doctest::Contains("[component] secret_file"), ConfigError);
  // …and the push unit never reads the listener's private key.
  Config p = load(
      push + "[legacy_tls]\nbackend = \"127.0.0.1:5200\"\ncert_file = \"/nonexistent\"\nkey_file = \"/nonexistent\"\n",
      Role::Push);
  CHECK(p.component.secret == "c");
  CHECK_THROWS_WITH_AS(
      load(push +
           "[legacy_tls]\nbackend = \"127.0.0.1:5200\"\ncert_file = \"/nonexistent\"\nkey_file = \"/nonexistent\"\n"),
      doctest::Contains("[legacy_tls] cert_file"), ConfigError);
}

TEST_CASE("an app's secret_file is optional: without one it serves registered devices only") {
  unsetenv("PUSHGATE_APP_MONALPRODIOS_SECRET");
  SecretFile comp("c");
  std::string base = "[component]\njid = \"push.example.com\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"monalProdiOS\"\nservice = \"log\"\n";
  Config cfg = load(base + "[store]\npath = \"/tmp/pushgate-cfg-test.db\"\n");
  REQUIRE(cfg.apps.size() == 1);
  CHECK_FALSE(cfg.apps[0].secret.has_value());
  CHECK(cfg.apps[0].require_secret);
  CHECK(cfg.warnings.empty());
  // Without a store nothing Prosody publishes can reach it: accepted, and --check says so.
  cfg = load(base);
  REQUIRE(cfg.warnings.size() == 1);
  CHECK(cfg.warnings[0].find("'monalProdiOS' has no secret and there is no [store]") != std::string::npos);
  CHECK(cfg.warnings[0].find("require_secret = false") != std::string::npos);
}

TEST_CASE("require_secret = false: accepted without a secret, refused beside one") {
  unsetenv("PUSHGATE_APP_MONALPRODIOS_SECRET");
  SecretFile comp("c"), app("a");
  std::string base = "[component]\njid = \"push.example.com\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"monalProdiOS\"\nservice = \"log\"\nrequire_secret = false\n";
  Config cfg = load(base);
  CHECK_FALSE(cfg.apps[0].secret.has_value());
  REQUIRE(cfg.warnings.size() == 1);  // the open app, not "no secret and no store": it is served
  CHECK(cfg.warnings[0].find("has require_secret = false") != std::string::npos);
  // A secret beside it would be checked by nobody.
  auto e = error_of(base + "secret_file = \"" + app.path + "\"\n");
  CHECK(e.find("test.toml:7: [[app]] 'monalProdiOS' require_secret: is false") != std::string::npos);
  CHECK(e.find("PUSHGATE_APP_MONALPRODIOS_SECRET") != std::string::npos);
  setenv("PUSHGATE_APP_MONALPRODIOS_SECRET", "from-env", 1);
  CHECK(error_of(base).find("require_secret: is false") != std::string::npos);
  unsetenv("PUSHGATE_APP_MONALPRODIOS_SECRET");
}
