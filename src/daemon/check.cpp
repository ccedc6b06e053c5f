// --check and --check --online: what the operator learns about a configuration before
// running it, from the providers and the XMPP server themselves for --online.
#include "daemon/check.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <ostream>

#include "common/event_loop.hpp"
#include "common/secret.hpp"
#include "push/outcome.hpp"
#include "push/providers.hpp"
#include "xmpp/component_errors.hpp"
#include "xmpp/server_probe.hpp"

namespace pushgate {
namespace {

// The whole online check, providers and XMPP server at once, stops waiting for answers after
// this; kHardDeadlineSeconds ends the process even inside a call that does not return (below).
constexpr std::chrono::seconds kGiveUp{20};
constexpr unsigned kHardDeadlineSeconds = static_cast<unsigned>(kGiveUp.count()) + 5;

// libstrophe 0.12.2 loops in SSL_connect inside xmpp_run_once() until the handshake ends, and
// resolves the account's SRV records blocking: a server that answers <proceed/> and then says
// nothing, or a name server that never answers, would hold the check forever. SIGALRM ends it.
constexpr char kHardDeadlineLine[] =
    "pushgate: online check FAILED: no answer within 25 s (a TLS handshake or name lookup that never completed)\n";
static_assert(kHardDeadlineSeconds == 25, "kHardDeadlineLine names the deadline");

void on_hard_deadline(int) {
  ssize_t n = write(STDOUT_FILENO, kHardDeadlineLine, sizeof kHardDeadlineLine - 1);
  (void)n;
  _exit(1);
}

// Arms the deadline for the process's lifetime (--check --online is its last act).
void arm_hard_deadline() {
  struct sigaction sa {};
  sa.sa_handler = &on_hard_deadline;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, nullptr);
  alarm(kHardDeadlineSeconds);
}

// The domains whose push support is checked: the component's parent domain (push.example.com
// serves example.com) and the test account's domain.
std::vector<std::string> served_domains(const Config& config) {
  std::vector<std::string> domains;
  std::string parent = xmpp::parent_domain(config.component.jid);
  if (!parent.empty()) domains.push_back(parent);
  if (!config.check.jid.empty()) {
    std::string own = config.check.jid.substr(config.check.jid.find('@') + 1);
    if (std::find(domains.begin(), domains.end(), own) == domains.end()) domains.push_back(own);
  }
  return domains;
}

struct XmppTally {
  int failed = 0;
  int not_checked = 0;
};

void report(const xmpp::Finding& f, XmppTally& tally, std::ostream& out) {
  out << xmpp::render(f);
  if (xmpp::is_failure(f.status)) ++tally.failed;
  if (f.status == xmpp::CheckStatus::NotChecked) ++tally.not_checked;
}

// Writes what the probe saw as findings, one line each; returns the tally.
// `account_problem`: why the [check] account was not used (its password), "" when it was.
XmppTally report_xmpp(const Config& config, const xmpp::ProbeReport& r, bool timed_out,
                      const std::string& account_problem, std::ostream& out) {
  XmppTally tally;
  const ComponentConfig& c = config.component;
  std::string where = c.host + ":" + std::to_string(c.port);
  if (r.component_cut_off) {
    ++tally.failed;
    out << "xmpp component " << c.jid << " at " << where << ": UNREACHABLE, " << r.component_cut_off->message() << "\n";
  } else if (r.component_in_use) {
    // Prosody (component_conflict_resolve = "kick_new", its default) checks the secret before
    // it refuses a second connection, so `conflict` proves the secret right.
    out << "xmpp component " << c.jid << " at " << where
        << ": OK, secret accepted; the JID is in use (pushgate is running?): domain disco#info/items not asked from "
           "the component\n";
  } else if (r.component_accepted) {
    out << "xmpp component " << c.jid << " at " << where << ": OK, handshake accepted\n";
  } else if (r.component_error) {
    ++tally.failed;
    out << "xmpp component " << c.jid << " at " << where << ": REFUSED, " << r.component_error->message() << "\n";
  } else {
    ++tally.failed;
    out << "xmpp component " << c.jid << " at " << where << ": UNREACHABLE, no handshake within "
        << kGiveUp.count() << " s; is " << where << " the server's component port ("
        << xmpp::kComponentPortSetting << ")?\n";
  }
  std::string own_domain;
  if (!config.check.jid.empty()) {
    own_domain = config.check.jid.substr(config.check.jid.find('@') + 1);
    std::string at = config.check.host.empty() ? own_domain : config.check.host;
    if (config.check.port != 0) at += ":" + std::to_string(config.check.port);
    if (!account_problem.empty()) {
      ++tally.failed;
      out << "xmpp account " << config.check.jid << ": NOT USED, cannot read [check] password_file: "
          << account_problem << "\n";
    } else if (r.account_cut_off) {
      ++tally.failed;
      out << "xmpp account " << config.check.jid << " at " << at << ": UNREACHABLE, " << r.account_cut_off->message()
          << "\n";
    } else if (r.account_logged_in) {
      out << "xmpp account " << config.check.jid << " at " << at << ": OK, logged in"
          << (r.account_secured ? " over TLS" : " without TLS (loopback)") << "\n";
    } else if (r.account_error) {
      ++tally.failed;
      out << "xmpp account " << config.check.jid << " at " << at << ": REFUSED, " << r.account_error->message() << "\n";
    } else {
      ++tally.failed;
      out << "xmpp account " << config.check.jid << " at " << at << ": UNREACHABLE, no login within "
          << kGiveUp.count() << " s; check [check] host and port\n";
    }
  }
  for (const xmpp::DomainSeen& d : r.domains) {
    xmpp::ServerKind kind = xmpp::ServerKind::Unknown;
    if (d.info) kind = xmpp::server_kind(*d.info);
    if (kind == xmpp::ServerKind::Unknown && d.version_name) kind = xmpp::server_kind(*d.version_name);
    if (kind == xmpp::ServerKind::Unknown && d.domain == own_domain && r.account_server_info) {
      kind = xmpp::server_kind(*r.account_server_info);
    }
    if (r.component_accepted && !d.info) {
      report(xmpp::Finding{d.domain, kind, "disco#info", xmpp::CheckStatus::Unreachable,
                           d.info_error.empty() ? "no answer" + std::string(timed_out ? " within the time limit" : "")
                                                : "the server answered " + d.info_error + ": is " + d.domain +
                                                      " one of its hosts (VirtualHost)?",
                           {}},
             tally, out);
    }
    if (d.domain == own_domain && r.account_logged_in) {
      if (r.own_info) {
        for (const auto& f : xmpp::account_findings(d.domain, kind, config.check.jid, *r.own_info)) {
          report(f, tally, out);
        }
      } else {
        report(xmpp::Finding{d.domain, kind, "own disco#info of " + config.check.jid, xmpp::CheckStatus::Unreachable,
                             r.own_error.empty() ? "no answer" : "the server answered " + r.own_error, {}},
               tally, out);
      }
    } else if (d.info) {
      bool account_failed = d.domain == own_domain;  // configured for this domain, and not logged in
      for (const auto& f : xmpp::host_findings(d.domain, kind, *d.info, account_failed)) report(f, tally, out);
    }
    // Siskin and Snikket iOS look for the push service among the domain's items.
    if (r.component_accepted && d.items) report(xmpp::items_finding(d.domain, kind, c.jid, *d.items), tally, out);
  }
  return tally;
}

}  // namespace

int run_check(Config config, const std::string& path, bool online, std::ostream& out) {
  // Only --check reads the test account's password; the daemon never needs it, so a file this
  // user cannot read is a warning here (systemd's ExecStartPre runs --check: the daemon must
  // still start) and a failure of --check --online.
  std::string password_problem;
  if (!config.check.jid.empty()) {
    try {
      (void)read_secret_file(config.check.password_file);
    } catch (const std::exception& e) {
      password_problem = key_error(config, "[check]", "password_file", e.what()).what();
    }
  }
  out << "pushgate: configuration " << path << " is valid (";
  if (config.role == Role::LegacyTls) {
    out << "[legacy_tls] only";
  } else {
    out << config.apps.size() << " app" << (config.apps.size() == 1 ? "" : "s") << ", component "
        << config.component.jid;
  }
  out << ")\n";
  if (!password_problem.empty()) {
    out << "pushgate: warning: " << password_problem << "; --check --online cannot log in as " << config.check.jid
        << "\n";
  }
  if (online && config.role != Role::LegacyTls) return check_online(std::move(config), out);
  return 0;
}

// The probe device token is made up: what the provider says about the credentials, not about
// the token, is the answer. BadDeviceToken or a 400 on the token means the key was accepted.
int check_online(Config config, std::ostream& out) {
  out.flush();  // what was written so far survives a _exit() at the deadline
  arm_hard_deadline();
  struct Disarm {
    ~Disarm() { alarm(0); }
  } disarm;
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
  // The XMPP server's side, asked at the same time as the providers.
  std::optional<xmpp::CheckAccount> account;
  std::string account_problem;
  if (!config.check.jid.empty()) {
    try {
      const CheckConfig& k = config.check;
      account = xmpp::CheckAccount{k.jid, read_secret_file(k.password_file), k.host, k.port, k.ca_file,
                                   xmpp::password_needs_tls(k.host)};
    } catch (const std::exception& e) {
      account_problem = e.what();
    }
  }
  auto probe = std::make_unique<xmpp::ServerProbe>(config.component, served_domains(config), std::move(account));
  probe->start();
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
  auto give_up = EventLoop::Clock::now() + kGiveUp;
  // libstrophe is polled, not watched: a one-shot check, so a 10 ms turn is cheap enough.
  while ((waiting > 0 || !probe->done()) && EventLoop::Clock::now() < give_up) {
    loop.run_once(std::chrono::milliseconds(probe->done() ? 100 : 10));
    probe->poll();
  }
  if (waiting > 0) {
    out << "pushgate: " << waiting << " app(s) did not answer within " << kGiveUp.count() << " s\n";
    failed += static_cast<int>(waiting);
  }
  bool xmpp_timed_out = !probe->done();
  XmppTally xmpp = report_xmpp(config, probe->finish(), xmpp_timed_out, account_problem, out);
  failed += xmpp.failed;
  out << (failed == 0 ? "pushgate: online check passed" : "pushgate: online check FAILED");
  if (xmpp.not_checked > 0) {
    out << " (" << xmpp.not_checked << " XMPP item" << (xmpp.not_checked == 1 ? "" : "s")
        << " NOT CHECKED: set [check] jid and password_file for the full check)";
  }
  out << "\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace pushgate
