// The probe's two libstrophe connections, each with a context of its own, polled by the
// caller's loop (xmpp_run_once(ctx, 0)): a one-shot check, so no socket watching. Every text
// that came from the server goes through printable() before it is kept.
#include "xmpp/server_probe.hpp"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "common/xml_writer.hpp"
#include "xmpp/component_errors.hpp"
#include "xmpp/outcome_errors.hpp"
#include "xmpp/stanza_pool.hpp"

namespace pushgate::xmpp {
namespace {

// libstrophe 0.12's read buffer: one xmpp_run_once() reads at most this from the socket.
constexpr std::size_t kReadChunk = 4096;

// libstrophe hands out a connection's socket only to the sockopt callback, which carries no
// user data. One thread (the check's).
std::unordered_map<xmpp_conn_t*, ServerProbe*>& probes_by_conn() {
  static std::unordered_map<xmpp_conn_t*, ServerProbe*> map;
  return map;
}

}  // namespace

ServerProbe::ServerProbe(const ComponentConfig& component, std::vector<std::string> domains,
                         std::optional<CheckAccount> account)
    : component_(component), account_(std::move(account)) {
  xmpp_initialize();
  for (std::string& d : domains) {
    report_.domains.emplace_back();
    report_.domains.back().domain = std::move(d);
  }
  for (Side* side : {&comp_, &acct_}) {
    side->probe = this;
    side->log = xmpp_log_t{&ServerProbe::on_log, side};
    side->ctx.reset(xmpp_ctx_new(pooled_memory(), &side->log));
    if (!side->ctx) throw std::runtime_error("libstrophe context could not be created: out of memory");
  }
}

ServerProbe::~ServerProbe() {
  for (Side* side : {&comp_, &acct_}) {
    if (side->conn) probes_by_conn().erase(side->conn.get());
    side->conn.reset();
    side->ctx.reset();
  }
}

void ServerProbe::on_log(void* userdata, xmpp_log_level_t level, const char* area, const char* msg) {
  // Only errors, which carry no stanza (debug lines would: the password's SASL exchange).
  if (level != XMPP_LEVEL_ERROR || msg == nullptr) return;
  auto* side = static_cast<Side*>(userdata);
  side->last_log_error = printable(std::string(area ? area : "") + ": " + msg);
}

int ServerProbe::on_sockopt(xmpp_conn_t* conn, void* sock) {
  auto it = probes_by_conn().find(conn);
  if (it != probes_by_conn().end()) {
    ServerProbe* self = it->second;
    for (Side* side : {&self->comp_, &self->acct_}) {
      if (side->conn.get() == conn) side->fd = *static_cast<int*>(sock);
    }
  }
  return 0;
}

bool ServerProbe::within_budget(Side& side, std::optional<Error>& cut_off, const char* who) {
  if (side.fd >= 0) {
    // What TCP took in on this socket so far, read or not: exact, so data waiting across
    // several reads is counted once.
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(side.fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
        len >= offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) {
      side.bytes_in = static_cast<std::size_t>(info.tcpi_bytes_received);
    } else {
      // A kernel without the counter: libstrophe reads at most kReadChunk per turn.
      int waiting = 0;
      if (ioctl(side.fd, FIONREAD, &waiting) == 0 && waiting > 0) {
        side.bytes_in += std::min(static_cast<std::size_t>(waiting), kReadChunk);
      }
    }
  }
  if (side.bytes_in <= kMaxProbeBytes) return true;
  side.ended = true;
  side.cut_off = true;
  side.waiting.clear();
  cut_off = Error{std::string(who) + " sent more than " + std::to_string(kMaxProbeBytes >> 20) +
                      " MiB without finishing its answers: stopped reading it",
                  "is it an XMPP server?"};
  probes_by_conn().erase(side.conn.get());
  side.conn.reset();  // closes the socket (libstrophe reports a disconnect, ignored): nothing more is read
  side.fd = -1;
  return false;
}

void ServerProbe::start() {
  comp_.conn.reset(xmpp_conn_new(comp_.ctx.get()));
  probes_by_conn()[comp_.conn.get()] = this;
  xmpp_conn_set_sockopt_callback(comp_.conn.get(), &ServerProbe::on_sockopt);
  give_component_sm_state(comp_.ctx.get(), comp_.conn.get());
  xmpp_conn_set_jid(comp_.conn.get(), component_.jid.c_str());
  xmpp_conn_set_pass(comp_.conn.get(), component_.secret.c_str());
  xmpp_handler_add(comp_.conn.get(), &ServerProbe::on_iq, nullptr, "iq", nullptr, &comp_);
  comp_.started = true;
  if (xmpp_connect_component(comp_.conn.get(), component_.host.c_str(), component_.port,
                             &ServerProbe::on_component_event, this) != XMPP_EOK) {
    comp_.ended = true;
    report_.component_error = Error{"could not start connecting to " + component_.host + ":" +
                                        std::to_string(component_.port),
                                    "check [component] host and port"};
  }
  if (!account_) return;
  acct_.conn.reset(xmpp_conn_new(acct_.ctx.get()));
  probes_by_conn()[acct_.conn.get()] = this;
  xmpp_conn_set_sockopt_callback(acct_.conn.get(), &ServerProbe::on_sockopt);
  xmpp_conn_set_jid(acct_.conn.get(), account_->jid.c_str());
  xmpp_conn_set_pass(acct_.conn.get(), account_->password.c_str());
  xmpp_handler_add(acct_.conn.get(), &ServerProbe::on_iq, nullptr, "iq", nullptr, &acct_);
  if (!account_->ca_file.empty()) xmpp_conn_set_cafile(acct_.conn.get(), account_->ca_file.c_str());
  // libstrophe verifies the certificate against the JID's domain; without TLS it would send the
  // password over the wire as it is (PLAIN, when that is all it is offered).
  if (account_->require_tls) xmpp_conn_set_flags(acct_.conn.get(), XMPP_CONN_FLAG_MANDATORY_TLS);
  acct_.started = true;
  const char* host = account_->host.empty() ? nullptr : account_->host.c_str();
  if (xmpp_connect_client(acct_.conn.get(), host, account_->port, &ServerProbe::on_account_event, this) != XMPP_EOK) {
    acct_.ended = true;
    std::string logged = acct_.last_log_error.empty() ? "" : ": " + acct_.last_log_error;
    report_.account_error = Error{"could not start connecting as " + account_->jid + logged,
                                  "check [check] host and port, or the DNS records of the JID's domain"};
  }
}

void ServerProbe::poll() {
  if (comp_.started && !comp_.ended && within_budget(comp_, report_.component_cut_off, "the server")) {
    xmpp_run_once(comp_.ctx.get(), 0);
  }
  if (acct_.started && !acct_.ended && within_budget(acct_, report_.account_cut_off, "the server")) {
    xmpp_run_once(acct_.ctx.get(), 0);
  }
}

bool ServerProbe::done() const {
  auto finished = [](const Side& s) { return !s.started || s.ended || (s.connected && s.waiting.empty()); };
  return finished(comp_) && finished(acct_);
}

ProbeReport ServerProbe::finish() {
  for (Side* side : {&comp_, &acct_}) {
    side->waiting.clear();  // late answers are not wanted any more
    if (side->started && side->connected && !side->ended) xmpp_disconnect(side->conn.get());
  }
  for (int i = 0; i < 50 && ((comp_.started && !comp_.ended) || (acct_.started && !acct_.ended)); ++i) {
    for (Side* side : {&comp_, &acct_}) {
      if (side->started && !side->ended) xmpp_run_once(side->ctx.get(), 10);
    }
  }
  return report_;
}

void ServerProbe::ask(Side& side, const std::string& to, const char* ns, std::function<void(xmpp_stanza_t*)> answer) {
  std::string id = "pg-check-" + std::to_string(++seq_);
  xml::Writer w;
  w.open("iq").attr("type", "get").attr("id", id);
  if (&side == &comp_) w.attr("from", component_.jid);
  if (!to.empty()) w.attr("to", to);
  w.open("query").attr("xmlns", ns);
  std::string text = w.finish();
  side.waiting.emplace(id, std::move(answer));
  xmpp_send_raw(side.conn.get(), text.data(), text.size());
}

std::optional<std::string> busy_reply(const std::string& component_jid, xmpp_stanza_t* iq) {
  std::string type = attr(iq, "type");
  if (type != "get" && type != "set") return std::nullopt;
  return iq_reply_xml(component_jid, attr(iq, "from"), attr(iq, "id"), xmpp_error_for(OutcomeKind::Retry),
                      "pushgate --check --online holds this connection, not the daemon: retry");
}

int ServerProbe::on_iq(xmpp_conn_t*, xmpp_stanza_t* stanza, void* userdata) {
  auto* side = static_cast<Side*>(userdata);
  std::string type = attr(stanza, "type");
  if (side == &side->probe->comp_) {
    if (auto reply = busy_reply(side->probe->component_.jid, stanza)) {
      xmpp_send_raw(side->conn.get(), reply->data(), reply->size());
      return 1;
    }
  }
  if (type != "result" && type != "error") return 1;  // a roster push, say: not ours to answer here
  auto it = side->waiting.find(attr(stanza, "id"));
  if (it == side->waiting.end()) return 1;
  auto answer = std::move(it->second);
  side->waiting.erase(it);
  answer(stanza);
  return 1;
}

void ServerProbe::on_component_event(xmpp_conn_t*, xmpp_conn_event_t event, int error, xmpp_stream_error_t* se,
                                     void* userdata) {
  auto* self = static_cast<ServerProbe*>(userdata);
  Side& side = self->comp_;
  if (event == XMPP_CONN_CONNECT) {
    side.connected = true;
    self->report_.component_accepted = true;
    for (std::size_t i = 0; i < self->report_.domains.size(); ++i) {
      const std::string& domain = self->report_.domains[i].domain;
      self->ask(side, domain, kNsDiscoInfo, [self, i](xmpp_stanza_t* iq) {
        DomainSeen& d = self->report_.domains[i];
        d.info = read_disco_info(iq);
        if (!d.info) d.info_error = printable(read_iq_error(iq));
      });
      self->ask(side, domain, kNsDiscoItems, [self, i](xmpp_stanza_t* iq) {
        DomainSeen& d = self->report_.domains[i];
        d.items = read_disco_items(iq);
        if (!d.items) d.items_error = printable(read_iq_error(iq));
      });
      // Only when the identity was renamed is it needed; asking always keeps the probe simple.
      self->ask(side, domain, kNsVersion,
                [self, i](xmpp_stanza_t* iq) { self->report_.domains[i].version_name = read_version_name(iq); });
    }
    return;
  }
  bool was_connected = side.connected;
  side.ended = true;
  side.waiting.clear();
  if (was_connected || side.cut_off) return;
  if (se != nullptr && se->type == XMPP_SE_CONFLICT) {
    self->report_.component_in_use = true;
    return;
  }
  Error why;
  if (se != nullptr) {
    why = describe_stream_error(self->component_, *se, false);
  } else {
    if (error == 0) error = probe_tcp(self->component_.host, self->component_.port);
    why = describe_socket_end(self->component_, error, false);
  }
  self->report_.component_error = Error{printable(why.cause), why.fix};
}

void ServerProbe::on_account_event(xmpp_conn_t*, xmpp_conn_event_t event, int error, xmpp_stream_error_t* se,
                                   void* userdata) {
  auto* self = static_cast<ServerProbe*>(userdata);
  Side& side = self->acct_;
  const CheckAccount& account = *self->account_;
  std::string domain = account.jid.substr(account.jid.find('@') + 1);
  if (event == XMPP_CONN_CONNECT) {
    side.connected = true;
    self->report_.account_logged_in = true;
    self->report_.account_secured = xmpp_conn_is_secured(side.conn.get()) != 0;
    // Exactly what Conversations and Siskin ask before enabling push: their own account.
    self->ask(side, "", kNsDiscoInfo, [self](xmpp_stanza_t* iq) {
      self->report_.own_info = read_disco_info(iq);
      if (!self->report_.own_info) self->report_.own_error = printable(read_iq_error(iq));
    });
    self->ask(side, domain, kNsDiscoInfo,
              [self](xmpp_stanza_t* iq) { self->report_.account_server_info = read_disco_info(iq); });
    return;
  }
  bool was_connected = side.connected;
  side.ended = true;
  side.waiting.clear();
  if (was_connected || side.cut_off) return;
  std::string where = account.host.empty() ? domain : account.host;
  if (account.port != 0) where += ":" + std::to_string(account.port);
  Error why;
  const std::string& logged = side.last_log_error;
  if (se != nullptr) {
    why.cause = "stream error " + stream_error_name(se->type) + (se->text ? std::string(": ") + se->text : "");
    if (se->type == XMPP_SE_HOST_UNKNOWN) why.fix = "the server at " + where + " does not serve " + domain;
    if (se->type == XMPP_SE_POLICY_VIOLATION) why.fix = "the server refused the login: see its log";
  } else if (logged.find("auth") == 0) {
    why.cause = "login refused (" + logged + ")";
    why.fix = "check that " + account.jid + " exists and that [check] password_file holds its password";
  } else if (logged.find("tls") == 0 || logged.find("TLS") != std::string::npos) {
    why.cause = "TLS failed (" + logged + ")";
    why.fix = account.require_tls && logged.find("mandatory") != std::string::npos
                  ? "the server at " + where + " offers no STARTTLS; the password goes over TLS only (or over loopback)"
                  : "the server's certificate must be valid for " + domain +
                        " and signed by a CA the system trusts, or by [check] ca_file";
  } else if (error != 0) {
    why.cause = std::strerror(error);
    if (error == ECONNREFUSED) why.fix = "nothing listens on " + where + ": check [check] host and port";
  } else {
    why.cause = "connection closed before the login completed" + (logged.empty() ? "" : " (" + logged + ")");
    if (!account.host.empty() && account.port != 0 && probe_tcp(account.host, account.port) == ECONNREFUSED) {
      why.cause = std::strerror(ECONNREFUSED);
      why.fix = "nothing listens on " + where + ": check [check] host and port";
    } else {
      why.fix = "check [check] host, port and the server's c2s settings (encryption, SASL mechanisms)";
    }
  }
  self->report_.account_error = Error{printable(why.cause, 400), why.fix};
}

}  // namespace pushgate::xmpp
