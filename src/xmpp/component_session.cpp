// The component session: libstrophe driven by the event loop with xmpp_run_once(ctx, 0)
// when its socket is ready, so the loop never blocks on XMPP and replies need no
// cross-thread queue.
#include "xmpp/component_session.hpp"

#include <sys/ioctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>
#include <new>
#include <cstring>
#include <unordered_map>

#include "common/log.hpp"
#include "xmpp/adhoc.hpp"
#include "xmpp/component_errors.hpp"
#include "xmpp/outcome_errors.hpp"
#include "xmpp/publish_parser.hpp"
#include "xmpp/stanza_pool.hpp"

namespace pushgate::xmpp {
namespace {

constexpr std::chrono::seconds kHandshakeTimeout{15};

// libstrophe logs whole stanzas at debug level (tokens, secrets): only its warnings and
// errors are forwarded, and those carry no stanza.
void strophe_log(void*, xmpp_log_level_t level, const char* area, const char* msg) {
  if (level == XMPP_LEVEL_ERROR) log::warn("libstrophe", {{"area", area}, {"message", msg}});
  else if (level == XMPP_LEVEL_WARN) log::debug("libstrophe", {{"area", area}, {"message", msg}});
}
const xmpp_log_t kStropheLog = {strophe_log, nullptr};

// libstrophe exposes a connection's socket only through its sockopt callback. Loop thread only.
std::unordered_map<xmpp_conn_t*, int>& sockets_by_conn() {
  static std::unordered_map<xmpp_conn_t*, int> map;
  return map;
}

}  // namespace

std::chrono::milliseconds standby_delay(std::mt19937& rng) {
  std::uniform_int_distribution<std::int64_t> dist(800, 1200);
  return std::chrono::milliseconds(dist(rng));
}

const char* to_string(SessionRole role) {
  switch (role) {
    case SessionRole::Active: return "active";
    case SessionRole::Standby: return "standby";
    case SessionRole::Connecting: break;
  }
  return "connecting";
}

std::chrono::milliseconds reconnect_delay(unsigned attempt, std::mt19937& rng) {
  constexpr std::int64_t kFirstMs = 1000, kCapMs = 30000;
  std::int64_t base = kFirstMs;
  for (unsigned i = 0; i < attempt && base < kCapMs; ++i) base *= 2;
  if (base > kCapMs) base = kCapMs;
  std::uniform_int_distribution<std::int64_t> dist(base / 2, base);
  return std::chrono::milliseconds(dist(rng));
}

ComponentSession::ComponentSession(EventLoop& loop, const ComponentConfig& config, Dispatcher& dispatcher,
                                   StoreWorker* store)
    : loop_(loop),
      config_(config),
      dispatcher_(dispatcher),
      watch_(loop, [this](int) { pump(); }),
      rng_(std::random_device{}()),
      commands_(config.jid, store) {
  xmpp_initialize();
  ctx_.reset(xmpp_ctx_new(pooled_memory(), &kStropheLog));
  if (!ctx_) throw std::runtime_error("libstrophe context could not be created: out of memory");
}

void ComponentSession::reload(const ComponentConfig& fresh) {
  config_.secret = fresh.secret;
  config_.ping_interval_seconds = fresh.ping_interval_seconds;
  config_.ping_timeout_seconds = fresh.ping_timeout_seconds;
}

ComponentSession::~ComponentSession() {
  watch_.stop();
  cancel_timers();
  if (conn_) sockets_by_conn().erase(conn_.get());
  conn_.reset();
  retired_conn_.reset();
  ctx_.reset();
}

void ComponentSession::cancel_timers() {
  for (auto* t : {&reconnect_timer_, &ping_timer_, &ping_deadline_, &tick_}) {
    if (*t) loop_.cancel(*t);
    *t = 0;
  }
}

void ComponentSession::start() {
  stopping_ = false;
  connect();
}

void ComponentSession::connect() {
  reconnect_timer_ = 0;
  if (stopping_) return;
  if (conn_) {
    sockets_by_conn().erase(conn_.get());
    retired_conn_ = std::move(conn_);
  }
  conn_.reset(xmpp_conn_new(ctx_.get()));
  give_component_sm_state(ctx_.get(), conn_.get());
  xmpp_conn_set_jid(conn_.get(), config_.jid.c_str());
  xmpp_conn_set_pass(conn_.get(), config_.secret.c_str());
  xmpp_conn_set_sockopt_callback(conn_.get(), &ComponentSession::on_sockopt);
  xmpp_handler_add(conn_.get(), &ComponentSession::on_iq, nullptr, "iq", nullptr, this);
  watch_.stop();
  fd_ = -1;
  ++generation_;
  log::debug("component_connecting", {{"host", config_.host}, {"port", std::to_string(config_.port)}, {"jid", config_.jid}});
  int rc = xmpp_connect_component(conn_.get(), config_.host.c_str(), config_.port, &ComponentSession::on_conn_event, this);
  if (rc != XMPP_EOK) {
    log::warn("component_connect_failed", {{"host", config_.host}, {"port", std::to_string(config_.port)},
                                           {"cause", "could not start connecting (libstrophe error " + std::to_string(rc) + ")"}});
    schedule_reconnect();
    return;
  }
  // A server that accepts TCP but never completes the handshake must not hold us forever.
  std::uint64_t gen = generation_;
  ping_deadline_ = loop_.call_after(kHandshakeTimeout, [this, gen] {
    ping_deadline_ = 0;
    if (gen == generation_ && !connected_ && conn_) {
      std::string fix = std::string("the port answers but no XEP-0114 handshake completed: is it the server's "
                                    "component port (") + kComponentPortSetting + ")?";
      log::warn("component_handshake_timeout",
                {{"host", config_.host}, {"port", std::to_string(config_.port)}, {"fix", fix}});
      close_stream();
    }
  });
  rearm();
}

int ComponentSession::on_sockopt(xmpp_conn_t* conn, void* sock) {
  // The callback carries no user data: remember the socket by connection.
  int fd = *static_cast<int*>(sock);
  sockets_by_conn()[conn] = fd;
  // Replies are small and latency matters more than segment count; keepalive finds a
  // peer that vanished without a FIN (our XEP-0199 ping finds a hung Prosody).
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return xmpp_sockopt_cb_keepalive(conn, sock);
}

void ComponentSession::on_conn_event(xmpp_conn_t*, xmpp_conn_event_t event, int error,
                                     xmpp_stream_error_t* stream_error, void* userdata) {
  auto* self = static_cast<ComponentSession*>(userdata);
  AllowStanzaText allow;
  if (event == XMPP_CONN_CONNECT) {
    self->connected_ = true;
    self->connected_since_ = std::chrono::system_clock::now();
    if (self->ping_deadline_) self->loop_.cancel(self->ping_deadline_);
    self->ping_deadline_ = 0;
    self->attempt_ = 0;
    self->ping_pending_.clear();
    if (self->standby_) {
      // The node that served the JID is gone (Prosody closed its stream): we serve it now.
      auto stood = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() -
                                                                         self->standby_since_);
      self->standby_ = false;
      log::info("component_took_over", {{"jid", self->config_.jid}, {"standby_ms", std::to_string(stood.count())},
                                         {"cause", "the node that served the JID is gone; this one serves it now"}});
    }
    log::info("component_connected", {{"jid", self->config_.jid}, {"host", self->config_.host},
                                       {"port", std::to_string(self->config_.port)}});
    self->ping_timer_ = self->loop_.call_after(std::chrono::seconds(self->config_.ping_interval_seconds),
                                               [self] { self->send_ping(); });
    return;
  }
  bool was_connected = self->connected_;
  self->connected_ = false;
  self->drop_output("the component stream ended before they were written");
  self->handle_disconnect(error, stream_error, was_connected);
}

void ComponentSession::handle_disconnect(int error, xmpp_stream_error_t* se, bool was_connected) {
  // libstrophe has closed the socket: stop watching it before its number is reused.
  watch_.stop();
  fd_ = -1;
  closing_ = false;
  sockets_by_conn().erase(conn_.get());
  for (auto* t : {&ping_timer_, &ping_deadline_}) {
    if (*t) loop_.cancel(*t);
    *t = 0;
  }
  ping_pending_.clear();
  std::string where = config_.host + ":" + std::to_string(config_.port);
  Error why;
  if (se != nullptr) {
    if (se->type == XMPP_SE_CONFLICT && !was_connected && !stopping_) {
      // Prosody's default (component_conflict_resolve = "kick_new"): another node serves
      // the JID. Not a fault: stand by and take over as soon as it is gone.
      stand_by(describe_stream_error(config_, *se, was_connected).cause);
      return;
    }
    why = describe_stream_error(config_, *se, was_connected);
  } else {
    if (error == 0 && !was_connected) error = probe_tcp(config_.host, config_.port);
    why = describe_socket_end(config_, error, was_connected);
  }
  if (stopping_) {
    log::info("component_disconnected", {{"peer", where}, {"cause", why.cause}});
    return;
  }
  standby_ = false;  // any other failure: the ordinary backoff
  log::warn(was_connected ? "component_disconnected" : "component_connect_failed",
            {{"peer", where}, {"jid", config_.jid}, {"cause", why.cause}, {"fix", why.fix.empty() ? "reconnecting" : why.fix}});
  schedule_reconnect();
}

void ComponentSession::schedule_reconnect() {
  if (stopping_ || reconnect_timer_) return;
  auto delay = reconnect_delay(attempt_, rng_);
  if (attempt_ < 16) ++attempt_;
  ++reconnects_;
  log::info("component_reconnect_scheduled", {{"in_ms", std::to_string(delay.count())}, {"attempt", std::to_string(attempt_)}});
  reconnect_timer_ = loop_.call_after(delay, [this] { connect(); });
  if (tick_) loop_.cancel(tick_);
  tick_ = 0;
}

void ComponentSession::stand_by(const std::string& cause) {
  if (stopping_ || reconnect_timer_) return;
  std::string where = config_.host + ":" + std::to_string(config_.port);
  auto delay = standby_delay(rng_);
  if (!standby_) {
    standby_ = true;
    standby_since_ = std::chrono::system_clock::now();
    log::info("component_standby",
              {{"peer", where}, {"jid", config_.jid}, {"cause", cause},
               {"next", "another node serves " + config_.jid + "; trying every second to take over when it is gone"}});
  } else {
    log::debug("component_standby_retry", {{"in_ms", std::to_string(delay.count())}});
  }
  attempt_ = 0;  // once the other node is gone, a failure starts the ordinary backoff afresh
  reconnect_timer_ = loop_.call_after(delay, [this] { connect(); });
  if (tick_) loop_.cancel(tick_);
  tick_ = 0;
}

std::size_t ComponentSession::answer_pending(const std::string& reason) {
  std::size_t answered = 0;
  for (const auto& [seq, p] : pending_) {
    if (!connected_ || p.generation != generation_) {
      ++replies_lost_;
      continue;
    }
    send_raw(iq_reply_xml(config_.jid, p.from, p.id, xmpp_error_for(OutcomeKind::Retry), reason));
    ++answered;
  }
  pending_.clear();
  return answered;
}

void ComponentSession::shutdown() {
  stopping_ = true;
  cancel_timers();
  if (conn_ && connected_) {
    hand_over_output();
    xmpp_disconnect(conn_.get());
    // Let libstrophe write </stream:stream> before the loop ends.
    for (int i = 0; i < 50 && connected_; ++i) xmpp_run_once(ctx_.get(), 10);
    if (connected_) {
      log::warn("component_close_incomplete",
                {{"queued", std::to_string(xmpp_conn_send_queue_len(conn_.get()))},
                 {"cause", "the server did not take the last replies and </stream:stream> within 500 ms"}});
    }
  }
  watch_.stop();
}

void ComponentSession::rearm() {
  if (!conn_) {
    watch_.stop();
    return;
  }
  if (fd_ < 0) {
    auto it = sockets_by_conn().find(conn_.get());
    if (it != sockets_by_conn().end()) fd_ = it->second;
  }
  if (fd_ >= 0) {
    int events = UV_READABLE;
    if (xmpp_conn_is_connecting(conn_.get()) || xmpp_conn_send_queue_len(conn_.get()) > 0) events |= UV_WRITABLE;
    watch_.watch(fd_, events);
  }
  bool settling = (!connected_ || closing_) && !reconnect_timer_;
  if (settling && !tick_) {
    tick_ = loop_.call_after(std::chrono::milliseconds(10), [this] {
      tick_ = 0;
      pump();
    });
  } else if (!settling && tick_) {
    loop_.cancel(tick_);
    tick_ = 0;
  }
}

void ComponentSession::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  loop_.defer([this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.expired()) return;
    flush_scheduled_ = false;
    pump();
  });
}

void ComponentSession::close_stream() {
  if (!conn_) return;
  closing_ = true;
  hand_over_output();  // replies already made go out before </stream:stream>
  xmpp_disconnect(conn_.get());
  schedule_flush();
}

void ComponentSession::pump() {
  retired_conn_.reset();
  if (!conn_) return;
  hand_over_output();
  // libstrophe reads at most 4 KiB per call: under load, keep reading while bytes wait,
  // so one wake-up handles a batch of stanzas rather than two or three. Bounded, so timers
  // and replies still get their turn.
  constexpr int kMaxReadsPerTurn = 16;
  SkipReceivedStanzaText skip_debug_rendering;
  for (int i = 0; i < kMaxReadsPerTurn && conn_; ++i) {
    xmpp_run_once(ctx_.get(), 0);
    int waiting = 0;
    if (fd_ < 0 || !connected_ || ioctl(fd_, FIONREAD, &waiting) != 0 || waiting == 0) break;
  }
  rearm();
}

int ComponentSession::on_iq(xmpp_conn_t*, xmpp_stanza_t* stanza, void* userdata) {
  AllowStanzaText our_sends_render;  // a stanza rendered inside a handler is not skipped
  static_cast<ComponentSession*>(userdata)->handle_iq(stanza);
  return 1;  // keep the handler
}

void ComponentSession::send_raw(const std::string& xml) {
  if (!conn_ || !connected_) return;
  if (closing_ || stopping_) {
    // </stream:stream> is on its way: nothing may follow it on this stream.
    ++replies_lost_;
    log::warn("reply_lost", {{"cause", "the component stream is closing"}});
    return;
  }
  out_ += xml;
  ++out_stanzas_;
  schedule_flush();
}

void ComponentSession::hand_over_output() {
  if (out_.empty()) return;
  if (conn_ && connected_) {
    xmpp_send_raw(conn_.get(), out_.data(), out_.size());
    // xmpp_conn_send_queue_len() leaves out an item libstrophe has begun to write, so a batch
    // the kernel took only in part, alone in the queue, would read as "nothing to send" and
    // rearm() would stop watching for writable: the rest would wait for the server's next
    // stanza. A space after each batch (whitespace between stanzas is allowed) keeps the
    // count above zero until the batch is out; at worst that one space waits.
    xmpp_send_raw(conn_.get(), " ", 1);
  }
  out_.clear();
  out_stanzas_ = 0;
}

void ComponentSession::drop_output(const char* cause) {
  if (out_stanzas_ == 0) return;
  replies_lost_ += out_stanzas_;
  log::warn("reply_lost", {{"count", std::to_string(out_stanzas_)}, {"cause", cause}});
  out_.clear();
  out_stanzas_ = 0;
}

void ComponentSession::handle_iq(xmpp_stanza_t* iq) {
  const char* type_c = xmpp_stanza_get_type(iq);
  std::string type = type_c ? type_c : "";
  std::string from = attr(iq, "from"), id = attr(iq, "id");
  if (type == "result" || type == "error") {
    if (!ping_pending_.empty() && id == ping_pending_) {
      // Any answer, even an error, proves the stream and Prosody are alive.
      ping_pending_.clear();
      if (ping_deadline_) loop_.cancel(ping_deadline_);
      ping_deadline_ = 0;
      auto rtt = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ping_sent_at_);
      log::debug("component_ping_answered", {{"id", id}, {"rtt_ms", std::to_string(rtt.count())}});
    }
    return;  // never answer a result or an error
  }
  if (type != "get" && type != "set") return;  // RFC 6120: no reply to an invalid type
  if (from.empty() || id.empty()) {
    log::warn("iq_ignored", {{"cause", "iq without from or id"}});
    return;
  }
  xmpp_stanza_t* first = xmpp_stanza_get_children(iq);
  while (first && !xmpp_stanza_is_tag(first)) first = xmpp_stanza_get_next(first);
  const char* ns = first ? xmpp_stanza_get_ns(first) : nullptr;
  const char* name = first ? xmpp_stanza_get_name(first) : nullptr;
  auto is_child = [&](const char* n, const char* want_ns) {
    return name && ns && std::strcmp(name, n) == 0 && std::strcmp(ns, want_ns) == 0;
  };
  if (type == "get" && is_child("query", kNsDiscoInfo)) {
    send_raw(disco_info_result_xml(config_.jid, from, id, commands_.disco_features(dispatcher_.apps())));
  } else if (type == "get" && is_child("query", kNsDiscoItems)) {
    if (attr(first, "node") == kNsCommands) {
      send_raw(adhoc_items_xml(config_.jid, from, id));
    } else {
      xml::Writer w = iq_result(config_.jid, from, id);
      w.open("query").attr("xmlns", kNsDiscoItems);
      send_raw(w.finish());
    }
  } else if (type == "set" && is_child("command", kNsCommands)) {
    // Its answer may come after the store's; a reply for a stream that has ended since is
    // dropped, as a publish's is.
    std::uint64_t gen = generation_;
    commands_.handle(first, from, id, dispatcher_.apps(), [this, gen](const std::string& xml) {
      if (gen == generation_) send_raw(xml);
    });
  } else if (type == "get" && is_child("ping", kNsPing)) {
    send_raw(iq_reply_xml(config_.jid, from, id, {"", ""}));
  } else if (is_publish(iq)) {
    handle_publish(iq);
  } else {
    send_raw(iq_reply_xml(config_.jid, from, id, {"cancel", "service-unavailable"}));
    log::debug("iq_unsupported", {{"from", from}, {"child", name ? name : ""}, {"ns", ns ? ns : ""}});
  }
}

void ComponentSession::handle_publish(xmpp_stanza_t* iq) {
  std::string from = attr(iq, "from"), id = attr(iq, "id");
  auto parsed = parse_publish(iq);
  if (!parsed) {
    const Error& err = parsed.error();
    if (err.fix.empty()) {
      log::warn("publish_rejected", {{"from", from}, {"id", id}, {"cause", err.cause}});
    } else {
      log::warn("publish_rejected", {{"from", from}, {"id", id}, {"cause", err.cause}, {"fix", err.fix}});
    }
    send_raw(iq_reply_xml(config_.jid, from, id, xmpp_error_for(OutcomeKind::BadRequest), err.message()));
    return;
  }
  if (!refusing_.empty()) {
    ++refused_publishes_;
    send_raw(iq_reply_xml(config_.jid, from, id, xmpp_error_for(OutcomeKind::Retry), refusing_));
    return;
  }
  std::uint64_t gen = generation_;
  std::uint64_t seq = ++publish_seq_;
  pending_.emplace(seq, Pending{from, id, gen});
  dispatcher_.dispatch(std::move(parsed).value(), [this, gen, seq, from, id](const Outcome& outcome) {
    if (pending_.erase(seq) == 0) return;  // answered `wait` when a shutdown drain ran out
    if (gen != generation_ || !connected_) {
      // The stream this IQ came on is gone; Prosody has already given up on it.
      ++replies_lost_;
      log::warn("reply_lost", {{"id", id}, {"outcome", to_string(outcome.kind)}, {"cause", "component session ended before the push finished"}});
      return;
    }
    XmppErrorCondition cond = xmpp_error_for(outcome.kind);
    send_raw(iq_reply_xml(config_.jid, from, id, cond, cond.type[0] ? outcome.reason : ""));
  });
}

void ComponentSession::send_ping() {
  ping_timer_ = 0;
  if (!connected_) return;
  ping_pending_ = "pg-ping-" + std::to_string(++ping_seq_);
  ping_sent_at_ = std::chrono::steady_clock::now();
  // Addressed to ourselves: the round trip through Prosody's router proves both directions.
  send_raw(ping_xml(config_.jid, config_.jid, ping_pending_));
  std::uint64_t gen = generation_;
  ping_deadline_ = loop_.call_after(std::chrono::seconds(config_.ping_timeout_seconds), [this, gen] {
    ping_deadline_ = 0;
    if (gen != generation_ || ping_pending_.empty() || !conn_) return;
    log::warn("component_ping_timeout", {{"timeout_s", std::to_string(config_.ping_timeout_seconds)},
                                         {"cause", "Prosody did not answer a ping; the stream is dead"}});
    close_stream();
  });
  ping_timer_ = loop_.call_after(std::chrono::seconds(config_.ping_interval_seconds), [this] { send_ping(); });
}

}  // namespace pushgate::xmpp
