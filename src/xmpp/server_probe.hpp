// The XMPP side of --check --online: connects as the component and asks each domain's
// disco#info, disco#items and jabber:iq:version, and, given a test account, logs in as that user (c2s) and asks
// its own account's disco#info, as clients do before enabling push. What it saw is returned
// raw; xmpp/server_check.hpp turns it into findings.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "xmpp/server_check.hpp"
#include "xmpp/stanza.hpp"

namespace pushgate::xmpp {

struct CheckAccount {
  std::string jid;       // user@domain
  std::string password;
  std::string host;      // empty: the JID's domain (libstrophe resolves SRV)
  std::uint16_t port = 0;
  std::string ca_file;       // trusted besides the system's CAs; empty: the system's only
  bool require_tls = true;   // false only where the password cannot cross a network (loopback)
};

// What the probe saw. An empty error string with no value means: no answer (yet).
struct DomainSeen {
  std::string domain;
  std::optional<DiscoInfo> info;
  std::string info_error;  // the IQ error the server answered, printable()
  std::optional<std::vector<std::string>> items;
  std::string items_error;
  std::optional<std::string> version_name;  // jabber:iq:version's <name>, when it answered one
};

// Bytes one connection may bring in before the probe stops reading it: the answers it asks
// for are a few KiB, and libstrophe's parser keeps a stanza whole however large it grows.
inline constexpr std::size_t kMaxProbeBytes = 1 << 20;

struct ProbeReport {
  bool component_accepted = false;
  // Refused with `conflict` before any handshake: another connection (the daemon) holds the JID.
  // Prosody checks the secret first, so the secret is right; nothing was asked of the domains.
  bool component_in_use = false;
  std::optional<Error> component_error;  // refused or ended before the handshake (printable)
  std::vector<DomainSeen> domains;
  bool account_logged_in = false;
  bool account_secured = false;  // the login went over TLS
  std::optional<Error> account_error;  // refused, unreachable, or the password (printable)
  std::optional<DiscoInfo> own_info;   // the account's own disco#info
  std::string own_error;
  std::optional<DiscoInfo> account_server_info;  // its server's disco#info, asked by the user
  // Set when that connection brought in more than kMaxProbeBytes and was dropped.
  std::optional<Error> component_cut_off, account_cut_off;
};

// The answer to an IQ the server routed to the probe's component connection: every get or
// set (a publish meant for the daemon, which ejabberd may route to any connection of the
// component) gets the daemon's retry answer, wait/internal-server-error, so none is left
// unanswered; nullopt for a result or an error, which is never answered.
std::optional<std::string> busy_reply(const std::string& component_jid, xmpp_stanza_t* iq);

class ServerProbe final {
 public:
  // Asks `domains` over the component session `component`; with `account`, logs in as it.
  ServerProbe(const ComponentConfig& component, std::vector<std::string> domains, std::optional<CheckAccount> account);
  ~ServerProbe();
  ServerProbe(const ServerProbe&) = delete;
  ServerProbe& operator=(const ServerProbe&) = delete;

  // Starts both connections (resolving the account's server may block: a one-shot check).
  void start();
  // Lets libstrophe read, write and run handlers without waiting. Call often until done().
  // A connection that brings in more than kMaxProbeBytes is dropped (ProbeReport::*_cut_off).
  void poll();
  // Every question answered, or its connection failed.
  bool done() const;
  // Closes both streams (waiting at most half a second) and returns what was seen; a question
  // not answered by then has neither value nor error.
  ProbeReport finish();

 private:
  // One connection with a libstrophe context of its own, so its log lines are its own.
  struct Side {
    ServerProbe* probe = nullptr;
    xmpp_log_t log{};  // outlives the context that points at it
    CtxPtr ctx;
    ConnPtr conn;
    bool started = false, connected = false, ended = false;
    bool cut_off = false;      // dropped by within_budget(): its end is not the server's doing
    int fd = -1;               // from the sockopt callback; -1 until the socket exists
    std::size_t bytes_in = 0;  // what TCP received on it (TCP_INFO), checked before each read
    std::string last_log_error;  // libstrophe's last error line here (SASL, TLS), printable()
    std::map<std::string, std::function<void(xmpp_stanza_t*)>> waiting;  // by IQ id
  };
  static void on_component_event(xmpp_conn_t*, xmpp_conn_event_t, int, xmpp_stream_error_t*, void*);
  static void on_account_event(xmpp_conn_t*, xmpp_conn_event_t, int, xmpp_stream_error_t*, void*);
  static int on_iq(xmpp_conn_t*, xmpp_stanza_t*, void*);
  static void on_log(void*, xmpp_log_level_t, const char*, const char*);
  static int on_sockopt(xmpp_conn_t* conn, void* sock);
  // Counts what waits on the socket; past kMaxProbeBytes ends the connection. False then.
  bool within_budget(Side& side, std::optional<Error>& cut_off, const char* who);
  void open(Side& side);
  void close(Side& side);
  void ask(Side& side, const std::string& to, const char* ns, std::function<void(xmpp_stanza_t*)> answer);

  ComponentConfig component_;
  std::optional<CheckAccount> account_;
  ProbeReport report_;
  Side comp_, acct_;
  std::uint64_t seq_ = 0;
};

}  // namespace pushgate::xmpp
