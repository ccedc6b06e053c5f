// Tests for src/config/config.cpp: the contract's keys, clear errors, secrets.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "config/config.hpp"
#include "support/h2_server.hpp"
#include "support/test_keys.hpp"

using namespace pushgate;

namespace {
struct SecretFile {
  explicit SecretFile(const std::string& value, mode_t mode = 0600) {
    char tmpl[] = "/tmp/pushgate-cfg-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size()));
    close(fd);
    chmod(tmpl, mode);
    path = tmpl;
  }
  ~SecretFile() { unlink(path.c_str()); }
  std::string path;
};

std::string error_of(const std::string& toml) {
  try {
    parse_config(toml, "test.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("the DESIGN.md contract for a log app parses") {
  SecretFile comp("compsecret\n"), app("appsecret\n");
  auto cfg = parse_config("[component]\njid = \"push.example.com\"\nhost = \"127.0.0.1\"\nport = 5347\nsecret_file = \"" +
                              comp.path + "\"\n\n[[app]]\nname = \"demo\"\nservice = \"log\"\nsecret_file = \"" + app.path +
                              "\"\noutput = \"/tmp/x.jsonl\"\n",
                          "test.toml");
  CHECK(cfg.component.jid == "push.example.com");
  CHECK(cfg.component.port == 5347);
  CHECK(cfg.component.secret == "compsecret");
  REQUIRE(cfg.apps.size() == 1);
  CHECK(cfg.apps[0].name == "demo");
  CHECK(cfg.apps[0].service == ServiceKind::Log);
  CHECK(cfg.apps[0].secret.value() == "appsecret");
  CHECK(cfg.apps[0].output == "/tmp/x.jsonl");
  CHECK(cfg.push.queue_size == 10000);
  CHECK(cfg.apps[0].max_devices_per_user == 20);
}

TEST_CASE("max_devices_per_user: per app, 1 to 10000") {
  SecretFile comp("c"), app("a");
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"x\"\n"
                     "service = \"log\"\nsecret_file = \"" +
                     app.path + "\"\n";
  CHECK(parse_config(base + "max_devices_per_user = 3\n", "test.toml").apps[0].max_devices_per_user == 3);
  for (const char* bad : {"0", "10001", "-1"}) {
    CHECK(error_of(base + "max_devices_per_user = " + bad + "\n")
              .find("max_devices_per_user: must be between 1 and 10000") != std::string::npos);
  }
}

TEST_CASE("secrets come from PUSHGATE_* environment variables when no file is named") {
  setenv("PUSHGATE_COMPONENT_SECRET", "from-env", 1);
  setenv("PUSHGATE_APP_MY_APP_SECRET", "app-env", 1);
  auto cfg = parse_config("[component]\njid = \"push.example.com\"\n[[app]]\nname = \"my-app\"\nservice = \"log\"\n", "t");
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

TEST_CASE("a typo in a key is named with a suggestion and its line") {
  SecretFile comp("c");
  auto e = error_of("[component]\njid = \"push.example.com\"\nsecret_file = \"" + comp.path + "\"\nprot = 5347\n");
  CHECK(e.find("test.toml:4") != std::string::npos);
  CHECK(e.find("unknown key 'prot'") != std::string::npos);
  CHECK(e.find("did you mean 'port'") != std::string::npos);
  auto e2 = error_of("[compnent]\njid = \"x\"\n");
  CHECK(e2.find("did you mean 'component'") != std::string::npos);
}

TEST_CASE("a world-readable secret file is refused at config time") {
  SecretFile comp("c", 0644);
  auto e = error_of("[component]\njid = \"push.example.com\"\nsecret_file = \"" + comp.path + "\"\n");
  CHECK(e.find("secret_file") != std::string::npos);
  CHECK(e.find("chmod") != std::string::npos);
}

TEST_CASE("wrong types, bad ports and bad TOML are explained") {
  SecretFile comp("c"), app("a");
  std::string base = "[component]\njid = \"push.example.com\"\nsecret_file = \"" + comp.path + "\"\n";
  CHECK(error_of(base + "port = \"5347\"\n").find("whole number") != std::string::npos);
  CHECK(error_of(base + "port = 70000\n").find("between 1 and 65535") != std::string::npos);
  CHECK(error_of("[component\njid=1").find("not valid TOML") != std::string::npos);
  CHECK(error_of(base).find("no [[app]]") != std::string::npos);
  CHECK(error_of(base + "[[app]]\nname = \"a\"\nservice = \"sms\"\nsecret_file = \"" + app.path + "\"\n")
            .find("not a service") != std::string::npos);
  CHECK(error_of("[component]\njid = \"user@push.example.com\"\n").find("not a bare domain") != std::string::npos);
}

TEST_CASE("duplicate app names are refused") {
  SecretFile comp("c"), app("a");
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n";
  std::string a = "[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" + app.path + "\"\n";
  CHECK(error_of(base + a + a).find("named 'x'") != std::string::npos);
}

TEST_CASE("an fcm app: the service account is checked at start, the endpoint defaults to Google's") {
  SecretFile comp("c"), app("a");
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n";
  std::string head = base + "[[app]]\nname = \"android\"\nservice = \"fcm\"\nsecret_file = \"" + app.path + "\"\n";
  CHECK(error_of(head).find("credentials_file: is required for fcm") != std::string::npos);
  CHECK(error_of(head + "credentials_file = \"/nonexistent/sa.json\"\n").find("cannot be read") != std::string::npos);
  std::string sa = test::write_service_account("https://oauth2.googleapis.com/token");
  Config c = parse_config(head + "credentials_file = \"" + sa + "\"\ncollapse_key = \"chat\"\n", "t.toml");
  CHECK(c.apps[0].service == ServiceKind::Fcm);
  CHECK(c.apps[0].endpoint == "https://fcm.googleapis.com");
  CHECK(c.apps[0].collapse_key == "chat");
  std::string world = test::write_service_account("https://oauth2.googleapis.com/token", 0644);
  CHECK(error_of(head + "credentials_file = \"" + world + "\"\n").find("readable by every user") != std::string::npos);
  for (const auto& p : {sa, world}) {
    std::remove(p.c_str());
    std::remove((p + ".pub.pem").c_str());
  }
}

TEST_CASE("an apns app: defaults, endpoints by environment, and what it requires") {
  SecretFile comp("c"), app("a");
  auto key = test::new_p256_key();
  std::string p8 = test::write_p8(key.get());
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n";
  std::string ios = "[[app]]\nname = \"ios\"\nservice = \"apns\"\nsecret_file = \"" + app.path + "\"\n";
  std::string full = ios + "topic = \"com.example.chat\"\nteam_id = \"9ABCDE1234\"\nkey_id = \"ABC123DEF4\"\nkey_file = \"" + p8 + "\"\n";
  auto cfg = parse_config(base + full, "t");
  CHECK(cfg.apps[0].service == ServiceKind::Apns);
  CHECK(cfg.apps[0].endpoint == "https://api.push.apple.com:443");
  CHECK(cfg.apps[0].voip_ttl == 30);
  CHECK(cfg.apps[0].voip_deadline_ms == 5000);
  CHECK(cfg.apps[0].deadline_ms == 30000);
  auto sandbox = parse_config(base + full + "environment = \"sandbox\"\nvoip_ttl = 10\ncollapse_id = \"kind\"\n", "t");
  CHECK(sandbox.apps[0].endpoint == "https://api.sandbox.push.apple.com:443");
  CHECK(sandbox.apps[0].voip_ttl == 10);
  CHECK(sandbox.apps[0].collapse_id == "kind");
  CHECK(error_of(base + ios + "team_id = \"9ABCDE1234\"\nkey_id = \"ABC123DEF4\"\nkey_file = \"" + p8 + "\"\n").find("topic") != std::string::npos);
  CHECK(error_of(base + full + "team_id = \"x\"\n").find("not valid TOML") != std::string::npos);  // duplicate key
  CHECK(error_of(base + ios + "topic = \"com.example.chat\"\nteam_id = \"short\"\nkey_id = \"ABC123DEF4\"\nkey_file = \"" + p8 + "\"\n")
            .find("10-character Team ID") != std::string::npos);
  CHECK(error_of(base + ios + "topic = \"com.example.chat\"\nteam_id = \"9ABCDE1234\"\nkey_id = \"ABC123DEF4\"\nkey_file = \"/nonexistent.p8\"\n")
            .find("key_file") != std::string::npos);
  CHECK(error_of(base + full + "endpoint = \"http://127.0.0.1:8443\"\n").find("https://") != std::string::npos);
  CHECK(error_of(base + full + "collapse_id = \"always\"\n").find("\"none\" or \"kind\"") != std::string::npos);
  unlink(p8.c_str());
}

TEST_CASE("[store]: an SQLite path or a PostgreSQL URL; other URLs and typos named") {
  SecretFile comp("c"), app("a");
  auto cfg = parse_config("[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path +
                              "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" + app.path +
                              "\"\n[store]\npath = \"/tmp/pushgate.db\"\n",
                          "t");
  CHECK(cfg.warnings.empty());
  CHECK(cfg.store.path == "/tmp/pushgate.db");
  // SQLite needs the directory: one that is not there is named, with the fix.
  CHECK(error_of("[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" +
                 app.path + "\"\n[store]\npath = \"/nonexistent-dir/p.db\"\n")
            .find("the directory /nonexistent-dir does not exist") != std::string::npos);
  CHECK(error_of("[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" +
                 app.path + "\"\n[store]\nurl = \"mysql://db/pushgate\"\n")
            .find("must be a postgresql:// URL") != std::string::npos);
  CHECK(error_of("[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" +
                 app.path + "\"\n[store]\npth = \"x\"\n")
            .find("did you mean 'path'") != std::string::npos);
}

TEST_CASE("[legacy_tls]: what it requires, what it accepts, defaults") {
  SecretFile comp("c"), app("a"), cert("CERT"), key("KEY");
  test::write_cert_pair(cert.path, key.path, 90 * 86400);
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" + app.path + "\"\n[legacy_tls]\n";
  std::string files = "cert_file = \"" + cert.path + "\"\nkey_file = \"" + key.path + "\"\n";
  CHECK(error_of(base + files).find("backend: is required") != std::string::npos);
  CHECK(error_of(base + "backend = \"127.0.0.1:5200\"\n").find("cert_file: is required") != std::string::npos);
  CHECK(error_of(base + files + "backend = \"localhost\"\n").find("not host:port") != std::string::npos);
  CHECK(error_of(base + files + "backend = \"127.0.0.1:5200\"\nbackend_mode = \"tls\"\n").find("\"plain\" or") !=
        std::string::npos);
  CHECK(error_of(base + files + "backend = \"127.0.0.1:5200\"\nmin_version = \"SSLv3\"\n").find("TLSv1") !=
        std::string::npos);
  CHECK(error_of(base + files + "backend = \"127.0.0.1:5200\"\ndomains = \"example.org\"\n").find("list") !=
        std::string::npos);
  CHECK(error_of(base + files + "backend = \"127.0.0.1:5200\"\nproxy_protocol = \"v3\"\n").find("\"v1\"") !=
        std::string::npos);
  CHECK(error_of(base + files + "backend = \"127.0.0.1:5200\"\nmetrics_listen = \"5282\"\n")
            .find("metrics_listen: '5282' is not host:port") != std::string::npos);
  Config c = parse_config(base + files + "backend = \"127.0.0.1:5200\"\ndomains = [\"a.example\", \"b.example\"]\n"
                                         "proxy_protocol = \"v2\"\nbackend_mode = \"starttls\"\n", "t");
  CHECK(c.legacy_tls.enabled);
  CHECK(c.legacy_tls.listen == "0.0.0.0:5222");
  CHECK(c.legacy_tls.min_version == "TLSv1");
  CHECK(c.legacy_tls.domains == std::vector<std::string>{"a.example", "b.example"});
  CHECK(c.legacy_tls.proxy_protocol == "v2");
  CHECK(c.legacy_tls.backend_mode == "starttls");
  CHECK(c.warnings.empty());
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
  Config c = parse_config(base + "[http]\ntls_cert = \"" + cert.path + "\"\ntls_key = \"" + key.path + "\"\n", "t");
  REQUIRE(c.warnings.size() == 2);  // no push_secret_file, and the certificate
  CHECK(c.warnings[0].find("expires in 4 days") != std::string::npos);
  std::string wrong = error_of(base + "[http]\ntls_cert = \"" + cert.path + "\"\ntls_key = \"" + other_key.path + "\"\n");
  CHECK(wrong.find("[http] tls_key: key file " + other_key.path + " does not match certificate") != std::string::npos);
  wrong = error_of(base + "[legacy_tls]\nbackend = \"127.0.0.1:5200\"\ncert_file = \"" + other_cert.path +
                   "\"\nkey_file = \"" + key.path + "\"\n");
  CHECK(wrong.find("[legacy_tls] key_file: key file") != std::string::npos);
}

TEST_CASE("--only: each role reads its own sections") {
  SecretFile comp("c"), app("a"), cert("x"), key("x");
  test::write_cert_pair(cert.path, key.path, 90 * 86400);
  std::string push = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" + app.path + "\"\n";
  std::string legacy = "[legacy_tls]\nbackend = \"127.0.0.1:5200\"\ncert_file = \"" + cert.path + "\"\nkey_file = \"" +
                       key.path + "\"\n";
  // The legacy unit never reads the push secrets: an unreadable one does not stop it.
  std::string unreadable = "[component]\njid = \"p.example\"\nsecret_file = \"/nonexistent/secret\"\n";
  Config l = parse_config(unreadable + legacy, "t", Role::LegacyTls);
  CHECK(l.role == Role::LegacyTls);
  CHECK(l.legacy_tls.enabled);
  CHECK(l.component.jid.empty());
  CHECK_THROWS_WITH_AS(parse_config(push, "t", Role::LegacyTls),
                       doctest::Contains("--only legacy-tls needs a [legacy_tls] section"), ConfigError);
  // …and the push unit never reads the listener's private key.
  Config p = parse_config(push + "[legacy_tls]\nbackend = \"127.0.0.1:5200\"\ncert_file = \"/nonexistent\"\n", "t", Role::Push);
  CHECK_FALSE(p.legacy_tls.enabled);
  CHECK(p.legacy_tls_elsewhere);
  CHECK_FALSE(parse_config(push, "t", Role::Push).legacy_tls_elsewhere);
  CHECK(p.apps.size() == 1);
  CHECK_THROWS_AS(parse_config(push + "[legacy_tls]\ncert_file = \"/nonexistent\"\n", "t"), ConfigError);
}

TEST_CASE("${CREDENTIALS_DIRECTORY} in a file key is systemd's LoadCredential= directory") {
  char dir[] = "/tmp/pushgate-cred-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::string secret_path = std::string(dir) + "/component.secret";
  FILE* f = std::fopen(secret_path.c_str(), "w");
  std::fputs("from-credentials\n", f);
  std::fclose(f);
  chmod(secret_path.c_str(), 0400);
  SecretFile app("a");
  std::string toml = "[component]\njid = \"p.example\"\nsecret_file = \"${CREDENTIALS_DIRECTORY}/component.secret\"\n"
                     "[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" + app.path + "\"\n";
  unsetenv("CREDENTIALS_DIRECTORY");
  std::string unset = error_of(toml);
  CHECK(unset.find("[component] secret_file: uses ${CREDENTIALS_DIRECTORY}") != std::string::npos);
  CHECK(unset.find("LoadCredential=") != std::string::npos);
  setenv("CREDENTIALS_DIRECTORY", dir, 1);
  Config c = parse_config(toml, "t");
  unsetenv("CREDENTIALS_DIRECTORY");
  CHECK(c.component.secret == "from-credentials");
  unlink(secret_path.c_str());
  rmdir(dir);
}

TEST_CASE("a required key that is missing names the key that looks like its typo") {
  SecretFile comp("c"), app("a");
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n";
  std::string e = error_of(base + "[[app]]\nname = \"x\"\nservise = \"log\"\nsecret_file = \"" + app.path + "\"\n");
  CHECK(e.find("service: is required") != std::string::npos);
  CHECK(e.find("'servise' on line 6 looks like a typo of 'service'") != std::string::npos);
  // Nothing close: no hint.
  e = error_of(base + "[[app]]\nname = \"x\"\nsecret_file = \"" + app.path + "\"\n");
  CHECK(e.find("service: is required") != std::string::npos);
  CHECK(e.find("looks like a typo") == std::string::npos);
}

TEST_CASE("[http] max_connections_per_address: 32 by default, 1 to 1024 accepted") {
  SecretFile comp("c"), app("a");
  std::string base = "[component]\njid = \"push.example.com\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"a\"\nservice = \"log\"\nsecret_file = \"" + app.path + "\"\n[http]\n";
  CHECK(parse_config(base, "t").http.max_connections_per_address == 32);
  CHECK(parse_config(base + "max_connections_per_address = 200\n", "t").http.max_connections_per_address == 200);
  CHECK(error_of(base + "max_connections_per_address = 0\n").find("between 1 and 1024") != std::string::npos);
  CHECK(error_of(base + "max_connections_per_address = 5000\n").find("between 1 and 1024") != std::string::npos);
}

TEST_CASE("an app's secret_file is optional: without one it serves registered devices only") {
  unsetenv("PUSHGATE_APP_MONALPRODIOS_SECRET");
  SecretFile comp("c");
  std::string base = "[component]\njid = \"push.example.com\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"monalProdiOS\"\nservice = \"log\"\n";
  Config cfg = parse_config(base + "[store]\npath = \"/tmp/pushgate-cfg-test.db\"\n", "test.toml");
  REQUIRE(cfg.apps.size() == 1);
  CHECK_FALSE(cfg.apps[0].secret.has_value());
  CHECK(cfg.apps[0].require_secret);
  CHECK(cfg.warnings.empty());
  // Without a store nothing Prosody publishes can reach it: accepted, and --check says so.
  cfg = parse_config(base, "test.toml");
  REQUIRE(cfg.warnings.size() == 1);
  CHECK(cfg.warnings[0].find("'monalProdiOS' has no secret and there is no [store]") != std::string::npos);
  CHECK(cfg.warnings[0].find("require_secret = false") != std::string::npos);
}

TEST_CASE("require_secret = false: accepted without a secret, warned about, refused beside one") {
  unsetenv("PUSHGATE_APP_MONALPRODIOS_SECRET");
  SecretFile comp("c"), app("a");
  std::string head = "[component]\njid = \"push.example.com\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"monalProdiOS\"\nservice = \"log\"\n";
  std::string base = head + "require_secret = false\n";
  Config cfg = parse_config(base, "test.toml");
  REQUIRE(cfg.apps.size() == 1);
  CHECK_FALSE(cfg.apps[0].require_secret);
  CHECK_FALSE(cfg.apps[0].secret.has_value());
  REQUIRE(cfg.warnings.size() == 1);  // the open app, not "no secret and no store": it is served
  CHECK(cfg.warnings[0].find("[[app]] 'monalProdiOS' has require_secret = false: anyone who knows a device token") !=
        std::string::npos);
  // A secret beside it would be checked by nobody.
  auto e = error_of(base + "secret_file = \"" + app.path + "\"\n");
  CHECK(e.find("require_secret: is false") != std::string::npos);
  CHECK(e.find("PUSHGATE_APP_MONALPRODIOS_SECRET") != std::string::npos);
  setenv("PUSHGATE_APP_MONALPRODIOS_SECRET", "from-env", 1);
  CHECK(error_of(base).find("require_secret: is false") != std::string::npos);
  unsetenv("PUSHGATE_APP_MONALPRODIOS_SECRET");
  CHECK(error_of(head + "require_secret = \"no\"\n").find("must be true or false") != std::string::npos);
  CHECK(error_of(head + "require_secrets = false\n").find("did you mean 'require_secret'") != std::string::npos);
}
