// --check and --check --online: what the operator learns about a configuration before
// running it, from the providers themselves for --online.
#include "daemon/check.hpp"

#include <algorithm>
#include <chrono>
#include <ostream>

#include "common/event_loop.hpp"
#include "push/outcome.hpp"
#include "push/providers.hpp"

namespace pushgate {

int run_check(Config config, const std::string& path, bool online, std::ostream& out) {
  out << "pushgate: configuration " << path << " is valid (";
  if (config.role == Role::LegacyTls) {
    out << "[legacy_tls] only";
  } else {
    out << config.apps.size() << " app" << (config.apps.size() == 1 ? "" : "s") << ", component "
        << config.component.jid;
  }
  out << ")\n";
  if (online && config.role != Role::LegacyTls) return check_online(std::move(config), out);
  return 0;
}

// The probe device token is made up: what the provider says about the credentials, not about
// the token, is the answer. BadDeviceToken or a 400 on the token means the key was accepted.
int check_online(Config config, std::ostream& out) {
  EventLoop loop;
  for (AppConfig& app : config.apps) app.deadline_ms = std::min(app.deadline_ms, 10000);  // no long retrying here
  ProviderSet providers;
  try {
    providers = make_providers(loop, config);
  } catch (const std::exception& e) {
    out << "pushgate: online check failed before contacting anyone: " << e.what() << "\n";
    return 1;
  }
  int failed = 0;
  std::size_t waiting = 0;
  for (std::size_t i = 0; i < config.apps.size(); ++i) {
    const AppConfig& app = config.apps[i];
    if (app.service == ServiceKind::Log) {
      out << "app " << app.name << " (log): nothing to check online\n";
      continue;
    }
    PushJob job;
    job.app = &app;
    job.kind = PushKind::Background;
    job.request.node = app.service == ServiceKind::Apns ? std::string(64, '0') : "pushgate-check-online-probe-token";
    job.request.sender_domain = "pushgate-check";
    ++waiting;
    providers.providers[i]->send(std::move(job), [&, name = app.name, service = app.service](const Outcome& o) {
      --waiting;
      const char* who = service == ServiceKind::Apns ? "APNs" : "FCM";
      std::string what = service == ServiceKind::Apns ? "provider token (ES256 JWT)" : "OAuth2 access token";
      switch (o.kind) {
        case OutcomeKind::Delivered:
        case OutcomeKind::TokenDead:
        case OutcomeKind::BadRequest:
          out << "app " << name << " (" << to_string(service) << "): OK, " << who << " accepted the " << what
              << " (the probe device token got: " << (o.kind == OutcomeKind::Delivered ? "delivered" : o.reason)
              << ")\n";
          break;
        case OutcomeKind::OperatorError:
          ++failed;
          out << "app " << name << " (" << to_string(service) << "): REFUSED, " << who << " did not accept the " << what
              << ": " << o.reason << "\n";
          break;
        default:
          ++failed;
          out << "app " << name << " (" << to_string(service) << "): UNREACHABLE, no answer about the " << what << ": "
              << to_string(o.kind) << ": " << o.reason << "\n";
      }
    });
  }
  auto give_up = EventLoop::Clock::now() + std::chrono::seconds(20);
  while (waiting > 0 && EventLoop::Clock::now() < give_up) loop.run_once(std::chrono::milliseconds(100));
  if (waiting > 0) {
    out << "pushgate: " << waiting << " app(s) did not answer within 20 s\n";
    failed += static_cast<int>(waiting);
  }
  out << (failed == 0 ? "pushgate: online check passed\n" : "pushgate: online check FAILED\n");
  return failed == 0 ? 0 : 1;
}

}  // namespace pushgate
