// The XEP-0114 component session to Prosody: connects, reconnects with backoff, keeps the
// session alive with XEP-0199 pings, answers disco/ping, turns publishes into dispatcher
// calls whose outcomes become exactly one IQ reply each, and hands device registration
// commands to xmpp/registration_commands.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>

#include "common/event_loop.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "push/dispatcher.hpp"
#include "store/store_worker.hpp"
#include "xmpp/registration_commands.hpp"
#include "xmpp/stanza.hpp"

namespace pushgate::xmpp {

// Delay before reconnect attempt `attempt` (0 = first after a disconnect): uniformly
// random in [base/2, base], base = min(1 s × 2^attempt, 30 s). Pure given the generator.
std::chrono::milliseconds reconnect_delay(unsigned attempt, std::mt19937& rng);

// Delay before the next attempt while Prosody refuses us with `conflict` (another node is
// connected as our JID): 1 s ± 20 %, uniformly in [800 ms, 1200 ms], however long the
// standby lasts, so the standby takes over within about a second of the active node's end.
// Pure given the generator.
std::chrono::milliseconds standby_delay(std::mt19937& rng);

// What this process is to Prosody: serving the component JID, standing by while another
// node serves it (Prosody refused us with `conflict`), or neither yet (connecting, or
// retrying after a failure that is not a conflict).
enum class SessionRole { Connecting, Active, Standby };
const char* to_string(SessionRole role);

class ComponentSession final {
 public:
  // Keeps its own copy of `config`. `store`: where registration commands go; null when there
  // is no [store] (they are refused). Not owned; it outlives the session.
  ComponentSession(EventLoop& loop, const ComponentConfig& config, Dispatcher& dispatcher, StoreWorker* store);
  ~ComponentSession();
  ComponentSession(const ComponentSession&) = delete;
  ComponentSession& operator=(const ComponentSession&) = delete;

  // Starts connecting; failures are retried forever with backoff.
  void start();
  // A configuration reload: the secret is used from the next (re)connect, the ping interval
  // and timeout from the next ping; the session stays up. jid, host and port need a restart
  // and are not taken from `fresh`.
  void reload(const ComponentConfig& fresh);
  // Closes the stream politely (</stream:stream>) and stops reconnecting.
  void shutdown();
  // Answers every publish still waiting for its push with `wait` (Prosody keeps the
  // registration and the client retries later); their pushes' late outcomes are dropped.
  // For the end of a shutdown drain. Returns how many were answered.
  std::size_t answer_pending(const std::string& reason);
  // Shutdown: publishes arriving from now on are answered `wait` with `reason` at once.
  void refuse_publishes(std::string reason) { refusing_ = std::move(reason); }
  std::uint64_t refused_publishes() const { return refused_publishes_; }

  bool connected() const { return connected_; }
  SessionRole role() const {
    return connected_ ? SessionRole::Active : standby_ ? SessionRole::Standby : SessionRole::Connecting;
  }
  // When the current standby began (meaningful while role() is Standby).
  std::chrono::system_clock::time_point standby_since() const { return standby_since_; }
  // When the current session was accepted by Prosody (meaningful while connected()).
  std::chrono::system_clock::time_point connected_since() const { return connected_since_; }
  std::uint64_t reconnects() const { return reconnects_; }
  // Replies that could not be sent because the session they belonged to had ended.
  std::uint64_t replies_lost() const { return replies_lost_; }


 private:
  // Lets libstrophe read, write and run its handlers (xmpp_run_once(ctx, 0)), then watches
  // the socket for what comes next. Called when the socket is ready, by the tick, and once
  // per loop turn after replies were queued.
  void pump();
  // Watches the socket (writable too while connecting or bytes wait) and, while the handshake
  // or a close is under way, ticks every 10 ms: libstrophe then queues bytes no send-queue
  // query shows.
  void rearm();
  // Queues a pump() for the end of this loop turn, once however many replies were sent.
  void schedule_flush();
  static void on_conn_event(xmpp_conn_t* conn, xmpp_conn_event_t event, int error, xmpp_stream_error_t* stream_error,
                            void* userdata);
  static int on_iq(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* userdata);
  static int on_sockopt(xmpp_conn_t* conn, void* sock);

  void connect();
  void handle_disconnect(int error, xmpp_stream_error_t* stream_error, bool was_connected);
  void schedule_reconnect();
  // A refusal with `conflict`: stand by (logged once) and try again in about a second.
  void stand_by(const std::string& cause);
  void handle_iq(xmpp_stanza_t* iq);
  void handle_publish(xmpp_stanza_t* iq);
  // One complete stanza, built with xml::Writer (xmpp/stanza.hpp): the only way out.
  // Stanzas sent during one turn wait in out_ and go to libstrophe as one write when the
  // turn ends (hand_over_output), so a batch of replies costs one send(), not one each.
  void send_raw(const std::string& xml);
  void hand_over_output();
  // Counts the replies in out_ as lost (a stream that ended) and logs it once.
  void drop_output(const char* cause);
  void send_ping();
  void cancel_timers();
  void close_stream();

  EventLoop& loop_;
  ComponentConfig config_;
  Dispatcher& dispatcher_;
  CtxPtr ctx_;
  ConnPtr conn_;
  ConnPtr retired_conn_;  // released on the next turn, never inside its own callback

  int fd_ = -1;
  FdWatch watch_;
  EventLoop::TimerId tick_ = 0;
  bool flush_scheduled_ = false;
  std::string out_;  // this turn's replies, not yet given to libstrophe
  std::uint64_t out_stanzas_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // deferred work checks it
  bool connected_ = false;
  std::chrono::system_clock::time_point connected_since_{};
  bool stopping_ = false;
  bool closing_ = false;          // xmpp_disconnect() called, waiting for the stream to end
  std::uint64_t generation_ = 0;  // bumps per session, so late replies know theirs is gone
  unsigned attempt_ = 0;
  // Prosody's last refusal was `conflict`: another node serves the JID; we retry every second.
  bool standby_ = false;
  std::chrono::system_clock::time_point standby_since_{};
  std::uint64_t reconnects_ = 0;
  std::uint64_t replies_lost_ = 0;
  std::uint64_t ping_seq_ = 0;
  std::string ping_pending_;  // id of the ping awaiting its reply, "" when none
  std::chrono::steady_clock::time_point ping_sent_at_;
  // Publishes whose push has not finished, by sequence number.
  struct Pending {
    std::string from, id;
    std::uint64_t generation;  // the session it came on
  };
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::uint64_t publish_seq_ = 0;
  std::string refusing_;  // non-empty while shutting down: why new publishes are refused
  std::uint64_t refused_publishes_ = 0;
  EventLoop::TimerId reconnect_timer_ = 0, ping_timer_ = 0, ping_deadline_ = 0;
  std::mt19937 rng_;
  RegistrationCommands commands_;
};

}  // namespace pushgate::xmpp
