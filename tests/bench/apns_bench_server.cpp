// A fast stand-in for APNs in the benchmark: HTTP/2 over TLS (tests/support/h2_server) with
// the checks of tests/mocks/apns_mock.js on every request — ES256 provider token (verified
// once per distinct token, as Apple caches them), path and device token, push type and topic,
// priority, expiration, payload size and JSON. The Node mock stays the tests' checker (with
// its control plane); it tops out near 18,000 requests/s on this machine, below the target
// the benchmark has to show.
//
// Usage: apns_bench_server --cert PEM --key PEM --pubkey PEM --team ID --key-id ID --topic T
// Prints "READY <port>", serves until SIGTERM/SIGINT, then prints its counters as JSON.
#include <csignal>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include "support/h2_server.hpp"
#include "support/test_keys.hpp"

using namespace pushgate::test;

namespace {

H2Server* g_server = nullptr;
void on_signal(int) {
  if (g_server != nullptr) g_server->stop();
}

struct Checker {
  EVP_PKEY* pubkey = nullptr;
  std::string team, key_id, topic;
  std::unordered_map<std::string, long> verified;  // jwt → iat
  std::map<std::string, long> rejected;
  long delivered = 0;

  // Returns "" when Apple would accept the request, else its reason.
  std::string check(const H2ServerRequest& r, int& status) {
    auto h = [&](const char* k) -> const std::string* {
      auto it = r.headers.find(k);
      return it == r.headers.end() ? nullptr : &it->second;
    };
    status = 400;
    if (*h(":method") != "POST") return status = 405, "MethodNotAllowed";
    const std::string& path = *h(":path");
    if (path.rfind("/3/device/", 0) != 0) return status = 404, "BadPath";
    std::string token = path.substr(10);
    if (token.size() < 64 || token.size() % 2 != 0 ||
        token.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return "BadDeviceToken";
    }
    const std::string* auth = h("authorization");
    if (auth == nullptr || auth->rfind("bearer ", 0) != 0) return status = 403, "MissingProviderToken";
    std::string jwt = auth->substr(7);
    long now = static_cast<long>(std::time(nullptr));
    auto it = verified.find(jwt);
    if (it == verified.end()) {
      auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
      if (d1 == std::string::npos || d1 == d2 || !verify_es256(pubkey, jwt)) return status = 403, "InvalidProviderToken";
      auto header = nlohmann::json::parse(base64url_decode(jwt.substr(0, d1)), nullptr, false);
      auto claims = nlohmann::json::parse(base64url_decode(jwt.substr(d1 + 1, d2 - d1 - 1)), nullptr, false);
      if (!header.is_object() || !claims.is_object() || header.value("alg", "") != "ES256" ||
          header.value("kid", "") != key_id || claims.value("iss", "") != team || !claims["iat"].is_number_integer()) {
        return status = 403, "InvalidProviderToken";
      }
      it = verified.emplace(jwt, claims["iat"].get<long>()).first;
    }
    if (it->second > now + 60) return status = 403, "InvalidProviderToken";
    if (now - it->second > 3600) return status = 403, "ExpiredProviderToken";
    const std::string* type = h("apns-push-type");
    if (type == nullptr || (*type != "alert" && *type != "background" && *type != "voip")) return "InvalidPushType";
    const std::string* t = h("apns-topic");
    if (t == nullptr) return "MissingTopic";
    if (*t != topic && *t != topic + ".voip") return "TopicDisallowed";
    if ((*type == "voip") != (*t == topic + ".voip")) return "BadTopic";
    const std::string* prio = h("apns-priority");
    if (prio != nullptr && *prio != "1" && *prio != "5" && *prio != "10") return "BadPriority";
    if (*type == "background" && (prio == nullptr || *prio != "5")) return "BadPriority";
    const std::string* exp = h("apns-expiration");
    if (exp != nullptr && (exp->empty() || exp->find_first_not_of("0123456789") != std::string::npos)) {
      return "BadExpirationDate";
    }
    if (exp != nullptr && *exp != "0" && std::stol(*exp) < now - 5) return "BadExpirationDate";
    if (r.body.empty()) return "PayloadEmpty";
    if (r.body.size() > (*type == "voip" ? 5120u : 4096u)) return status = 413, "PayloadTooLarge";
    if (!nlohmann::json::accept(r.body) || r.body[0] != '{') return "BadPayload";
    return "";
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  for (const char* k : {"--cert", "--key", "--pubkey", "--team", "--key-id", "--topic"}) {
    if (!args.count(k)) {
      std::fprintf(stderr, "apns_bench_server: missing %s\n", k);
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  Checker checker;
  FILE* f = std::fopen(args["--pubkey"].c_str(), "r");
  if (f == nullptr || (checker.pubkey = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr)) == nullptr) {
    std::fprintf(stderr, "apns_bench_server: cannot read the public key %s\n", args["--pubkey"].c_str());
    return 2;
  }
  std::fclose(f);
  checker.team = args["--team"];
  checker.key_id = args["--key-id"];
  checker.topic = args["--topic"];
  H2ServerOptions options;
  options.cert_file = args["--cert"];
  options.key_file = args["--key"];
  H2Server server(options, [&](const H2ServerRequest& r) {
    H2ServerAnswer a;
    std::string reason = checker.check(r, a.status);
    a.headers = {{"apns-id", "00000000-0000-0000-0000-000000000000"}};
    if (reason.empty()) {
      a.status = 200;
      ++checker.delivered;
    } else {
      ++checker.rejected[reason];
      a.body = "{\"reason\":\"" + reason + "\"}";
    }
    return a;
  });
  g_server = &server;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::printf("READY %d\n", server.port());
  std::fflush(stdout);
  server.run();
  nlohmann::json stats = {{"requests", server.requests()}, {"delivered", checker.delivered},
                          {"rejected", checker.rejected}, {"jwt_distinct", checker.verified.size()},
                          {"connections", server.connections()}};
  std::printf("%s\n", stats.dump().c_str());
  return 0;
}
