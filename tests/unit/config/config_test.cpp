// Tests for src/config/config.cpp: the contract's keys, their enums, clear errors; the file
// names keys hold (reading the secrets, keys and certificates: daemon/credentials_test.cpp).
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "config/config.hpp"

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
  // Parsing names the secret files and reads none of them.
  CHECK(cfg.component.secret_file == comp.path);
  CHECK(cfg.component.secret.empty());
  REQUIRE(cfg.apps.size() == 1);
  CHECK(cfg.apps[0].name == "demo");
  CHECK(cfg.apps[0].service == ServiceKind::Log);
  CHECK(cfg.apps[0].secret_file == app.path);
  CHECK_FALSE(cfg.apps[0].secret.has_value());
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

TEST_CASE("a typo in a key is named with a suggestion and its line") {
  SecretFile comp("c");
  auto e = error_of("[component]\njid = \"push.example.com\"\nsecret_file = \"" + comp.path + "\"\nprot = 5347\n");
  CHECK(e.find("test.toml:4") != std::string::npos);
  CHECK(e.find("unknown key 'prot'") != std::string::npos);
  CHECK(e.find("did you mean 'port'") != std::string::npos);
  auto e2 = error_of("[compnent]\njid = \"x\"\n");
  CHECK(e2.find("did you mean 'component'") != std::string::npos);
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

TEST_CASE("an fcm app: a service account is required, the endpoint defaults to Google's") {
  SecretFile comp("c"), app("a");
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n";
  std::string head = base + "[[app]]\nname = \"android\"\nservice = \"fcm\"\nsecret_file = \"" + app.path + "\"\n";
  CHECK(error_of(head).find("credentials_file: is required for fcm") != std::string::npos);
  Config c = parse_config(head + "credentials_file = \"/etc/pushgate/sa.json\"\ncollapse_key = \"chat\"\n", "t.toml");
  CHECK(c.apps[0].service == ServiceKind::Fcm);
  CHECK(c.apps[0].credentials_file == "/etc/pushgate/sa.json");  // read by the credentials step
  CHECK(c.apps[0].endpoint == "https://fcm.googleapis.com");
  CHECK(c.apps[0].collapse_key == "chat");
  CHECK(error_of(head + "credentials_file = \"/x.json\"\nendpoint = \"http://127.0.0.1:8443\"\n").find("https://") !=
        std::string::npos);
  CHECK(error_of(head + "credentials_file = \"/x.json\"\ncollapse_key = \"" + std::string(101, 'k') + "\"\n")
            .find("collapse_key: is longer than 100 characters") != std::string::npos);
}

TEST_CASE("an apns app: defaults, endpoints by environment, and what it requires") {
  SecretFile comp("c"), app("a");
  std::string p8 = "/etc/pushgate/AuthKey_ABC123DEF4.p8";  // named, not read: the credentials step loads it
  std::string base = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n";
  std::string ios = "[[app]]\nname = \"ios\"\nservice = \"apns\"\nsecret_file = \"" + app.path + "\"\n";
  std::string full = ios + "topic = \"com.example.chat\"\nteam_id = \"9ABCDE1234\"\nkey_id = \"ABC123DEF4\"\nkey_file = \"" + p8 + "\"\n";
  auto cfg = parse_config(base + full, "t");
  CHECK(cfg.apps[0].service == ServiceKind::Apns);
  CHECK(cfg.apps[0].environment == ApnsEnvironment::Production);
  CHECK(cfg.apps[0].collapse_id == CollapseId::None);
  CHECK(cfg.apps[0].key_file == p8);
  CHECK(cfg.apps[0].endpoint == "https://api.push.apple.com:443");
  CHECK(cfg.apps[0].voip_ttl == 30);
  CHECK(cfg.apps[0].voip_deadline_ms == 5000);
  CHECK(cfg.apps[0].deadline_ms == 30000);
  auto sandbox = parse_config(base + full + "environment = \"sandbox\"\nvoip_ttl = 10\ncollapse_id = \"kind\"\n", "t");
  CHECK(sandbox.apps[0].environment == ApnsEnvironment::Sandbox);
  CHECK(sandbox.apps[0].endpoint == "https://api.sandbox.push.apple.com:443");
  CHECK(sandbox.apps[0].voip_ttl == 10);
  CHECK(sandbox.apps[0].collapse_id == CollapseId::Kind);
  CHECK(error_of(base + ios + "team_id = \"9ABCDE1234\"\nkey_id = \"ABC123DEF4\"\nkey_file = \"" + p8 + "\"\n").find("topic") != std::string::npos);
  CHECK(error_of(base + full + "team_id = \"x\"\n").find("not valid TOML") != std::string::npos);  // duplicate key
  CHECK(error_of(base + ios + "topic = \"com.example.chat\"\nteam_id = \"short\"\nkey_id = \"ABC123DEF4\"\nkey_file = \"" + p8 + "\"\n")
            .find("10-character Team ID") != std::string::npos);
  CHECK(error_of(base + ios + "topic = \"com.example.chat\"\nteam_id = \"9ABCDE1234\"\nkey_id = \"ABC123DEF4\"\n")
            .find("key_file: is required for apns") != std::string::npos);
  CHECK(error_of(base + full + "endpoint = \"http://127.0.0.1:8443\"\n").find("https://") != std::string::npos);
  CHECK(error_of(base + full + "collapse_id = \"always\"\n").find("\"none\" or \"kind\"") != std::string::npos);
  CHECK(error_of(base + full + "environment = \"development\"\n").find("environment: must be \"production\" or \"sandbox\"") !=
        std::string::npos);
}

TEST_CASE("[store]: an SQLite path or a PostgreSQL URL; other URLs and typos named") {
  SecretFile comp("c"), app("a");
  auto cfg = parse_config("[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path +
                              "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" + app.path +
                              "\"\n[store]\npath = \"/tmp/pushgate.db\"\n",
                          "t");
  CHECK(cfg.warnings.empty());
  CHECK(cfg.store.kind == StoreKind::Sqlite);
  CHECK(cfg.store.path == "/tmp/pushgate.db");
  Config pg = parse_config("[component]\njid = \"p.example\"\n[[app]]\nname = \"x\"\nservice = \"log\"\n"
                           "[store]\nurl = \"postgresql://pushgate@db.example.org/pushgate\"\n", "t");
  CHECK(pg.store.kind == StoreKind::Postgresql);
  CHECK(parse_config("[component]\njid = \"p.example\"\n[[app]]\nname = \"x\"\nservice = \"log\"\n", "t").store.kind ==
        StoreKind::None);
  CHECK(error_of("[component]\njid = \"p.example\"\n[[app]]\nname = \"x\"\nservice = \"log\"\n[store]\npath = \"/tmp/p.db\"\n"
                 "url = \"postgresql://db/pushgate\"\n")
            .find("set either path (SQLite) or url (PostgreSQL), not both") != std::string::npos);
  CHECK(error_of("[component]\njid = \"p.example\"\n[[app]]\nname = \"x\"\nservice = \"log\"\n[store]\n")
            .find("[store] path: is required") != std::string::npos);
  CHECK(error_of("[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" +
                 app.path + "\"\n[store]\nurl = \"mysql://db/pushgate\"\n")
            .find("must be a postgresql:// URL") != std::string::npos);
  CHECK(error_of("[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path + "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" +
                 app.path + "\"\n[store]\npth = \"x\"\n")
            .find("did you mean 'path'") != std::string::npos);
}

TEST_CASE("[legacy_tls]: what it requires, what it accepts, defaults") {
  SecretFile comp("c"), app("a"), cert("CERT"), key("KEY");  // named, not read: the credentials step checks them
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
  CHECK(c.legacy_tls.min_version == TlsVersion::Tls1_0);
  CHECK(c.legacy_tls.domains == std::vector<std::string>{"a.example", "b.example"});
  CHECK(c.legacy_tls.proxy_protocol == ProxyProtocol::V2);
  CHECK(c.legacy_tls.backend_mode == BackendMode::Starttls);
  CHECK(c.warnings.empty());
  Config d = parse_config(base + files + "backend = \"127.0.0.1:5200\"\n", "t");
  CHECK(d.legacy_tls.proxy_protocol == ProxyProtocol::Off);
  CHECK(d.legacy_tls.backend_mode == BackendMode::Plain);
  CHECK(parse_config(base + files + "backend = \"127.0.0.1:5200\"\nmin_version = \"TLSv1.2\"\n", "t").legacy_tls.min_version ==
        TlsVersion::Tls1_2);
}

TEST_CASE("--only: each role reads its own sections") {
  SecretFile comp("c"), app("a"), cert("x"), key("x");
  std::string push = "[component]\njid = \"p.example\"\nsecret_file = \"" + comp.path +
                     "\"\n[[app]]\nname = \"x\"\nservice = \"log\"\nsecret_file = \"" + app.path + "\"\n";
  std::string legacy = "[legacy_tls]\nbackend = \"127.0.0.1:5200\"\ncert_file = \"" + cert.path + "\"\nkey_file = \"" +
                       key.path + "\"\n";
  // The legacy unit never reads the push sections (nor, in the credentials step, their files).
  std::string unreadable = "[component]\njid = \"p.example\"\nsecret_file = \"/nonexistent/secret\"\n";
  Config l = parse_config(unreadable + legacy, "t", Role::LegacyTls);
  CHECK(l.role == Role::LegacyTls);
  CHECK(l.legacy_tls.enabled);
  CHECK(l.component.jid.empty());
  CHECK(l.component.secret_file.empty());
  CHECK(l.apps.empty());
  CHECK_THROWS_WITH_AS(parse_config(push, "t", Role::LegacyTls),
                       doctest::Contains("--only legacy-tls needs a [legacy_tls] section"), ConfigError);
  // …and the push unit never reads [legacy_tls]: here it lacks key_file, which is no error.
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
  CHECK(c.component.secret_file == secret_path);
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

TEST_CASE("require_secret = false: accepted and warned about") {
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
  // A secret beside it, which nobody would check, is refused once it is read (credentials_test.cpp).
  CHECK(error_of(head + "require_secret = \"no\"\n").find("must be true or false") != std::string::npos);
  CHECK(error_of(head + "require_secrets = false\n").find("did you mean 'require_secret'") != std::string::npos);
}

TEST_CASE("every enum key takes the names the file uses, and to_string writes them back") {
  std::string base = "[component]\njid = \"p.example\"\n[[app]]\nname = \"x\"\nservice = \"log\"\n";
  std::string legacy = "[legacy_tls]\nbackend = \"127.0.0.1:5200\"\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n";
  for (TlsVersion v : {TlsVersion::Tls1_0, TlsVersion::Tls1_1, TlsVersion::Tls1_2, TlsVersion::Tls1_3}) {
    Config c = parse_config(base + legacy + "min_version = \"" + to_string(v) + "\"\n", "t");
    CHECK(c.legacy_tls.min_version == v);
  }
  for (ProxyProtocol p : {ProxyProtocol::Off, ProxyProtocol::V1, ProxyProtocol::V2}) {
    CHECK(parse_config(base + legacy + "proxy_protocol = \"" + to_string(p) + "\"\n", "t").legacy_tls.proxy_protocol == p);
  }
  for (BackendMode m : {BackendMode::Plain, BackendMode::Starttls}) {
    CHECK(parse_config(base + legacy + "backend_mode = \"" + to_string(m) + "\"\n", "t").legacy_tls.backend_mode == m);
  }
  for (ServiceKind k : {ServiceKind::Apns, ServiceKind::Fcm, ServiceKind::Log}) {
    std::string app = "[[app]]\nname = \"y\"\nservice = \"" + std::string(to_string(k)) +
                      "\"\ntopic = \"com.example.chat\"\nteam_id = \"9ABCDE1234\"\nkey_id = \"ABC123DEF4\"\n"
                      "key_file = \"k.p8\"\ncredentials_file = \"sa.json\"\n";
    if (k != ServiceKind::Log) {
      CHECK(parse_config(base + app, "t").apps[1].service == k);
    }
  }
  CHECK(std::string(to_string(ApnsEnvironment::Sandbox)) == "sandbox");
  CHECK(std::string(to_string(CollapseId::Kind)) == "kind");
  CHECK(std::string(to_string(StoreKind::Postgresql)) == "postgresql");
  CHECK(std::string(to_string(Role::LegacyTls)) == "legacy-tls");  // as --only writes it
  // A string in the wrong case is not a value.
  CHECK(error_of(base + legacy + "min_version = \"tlsv1.2\"\n").find("min_version: must be \"TLSv1\", \"TLSv1.1\", \"TLSv1.2\" or \"TLSv1.3\"") !=
        std::string::npos);
}

TEST_CASE("key_error names the file, the key's line and the key, as the parser's messages do") {
  Config c = parse_config("[component]\njid = \"p.example\"\n\nsecret_file = \"/s\"\n[[app]]\nname = \"ios\"\n"
                          "service = \"log\"\n",
                          "pushgate.toml");
  CHECK(std::string(key_error(c, "[component]", "secret_file", "cannot be read").what()) ==
        "pushgate.toml:4: [component] secret_file: cannot be read");
  CHECK(std::string(key_error(c, app_section("ios"), "service", "x").what()) == "pushgate.toml:7: [[app]] 'ios' service: x");
  // A key the file does not hold: no line.
  CHECK(std::string(key_error(c, "[http]", "tls_key", "y").what()) == "pushgate.toml: [http] tls_key: y");
  CHECK(app_secret_env("monal-Prod.iOS") == "PUSHGATE_APP_MONAL_PROD_IOS_SECRET");
}

TEST_CASE("[check]: a test account for --check --online, its password file required, host and port optional") {
  std::string base = "[component]\njid = \"push.example.com\"\nsecret_file = \"/x\"\n"
                     "[[app]]\nname = \"demo\"\nservice = \"log\"\n";
  auto cfg = parse_config(base, "test.toml");
  CHECK(cfg.check.jid.empty());
  cfg = parse_config(base + "[check]\njid = \"probe@example.com\"\npassword_file = \"/etc/p\"\nhost = \"127.0.0.1\"\n"
                            "port = 5223\nca_file = \"/etc/ca.pem\"\n",
                     "test.toml");
  CHECK(cfg.check.ca_file == "/etc/ca.pem");
  CHECK(cfg.check.jid == "probe@example.com");
  CHECK(cfg.check.password_file == "/etc/p");
  CHECK(cfg.check.host == "127.0.0.1");
  CHECK(cfg.check.port == 5223);
  CHECK(error_of(base + "[check]\njid = \"example.com\"\npassword_file = \"/p\"\n").find("not a bare user JID") !=
        std::string::npos);
  CHECK(error_of(base + "[check]\njid = \"a@example.com/res\"\npassword_file = \"/p\"\n").find("not a bare user JID") !=
        std::string::npos);
  CHECK(error_of(base + "[check]\njid = \"a@example.com\"\n").find("[check] password_file: is required") != std::string::npos);
  CHECK(error_of(base + "[check]\npassword_file = \"/p\"\n").find("[check] jid: is required") != std::string::npos);
  CHECK(error_of(base + "[check]\njid = \"a@example.com\"\npassword_file = \"/p\"\nport = 0\n").find("port") !=
        std::string::npos);
  CHECK(error_of(base + "[chek]\n").find("did you mean 'check'") != std::string::npos);
}
