// The XEP-0114 component session to Prosody: connects, reconnects with backoff, keeps the
// session alive with XEP-0199 pings, answers disco/ping, and turns publishes into
// dispatcher calls whose outcomes become exactly one IQ reply each.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>

#include "common/event_loop.hpp"
#include "config/config.hpp"
#include "push/dispatcher.hpp"
#include "xmpp/adhoc.hpp"
#include "xmpp/stanza.hpp"

namespace pushgate::xmpp {

// Delay before reconnect attempt `attempt` (0 = first after a disconnect): uniformly
// random in [base/2, base], base = min(1 s × 2^attempt, 30 s). Pure given the generator.
std::chrono::milliseconds reconnect_delay(unsigned attempt, std::mt19937& rng);

class ComponentSession final : public IoSource {
 public:
  // Keeps its own copy of `config`.
  ComponentSession(EventLoop& loop, const ComponentConfig& config, Dispatcher& dispatcher);
  ~ComponentSession() override;
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
  // When the current session was accepted by Prosody (meaningful while connected()).
  std::chrono::system_clock::time_point connected_since() const { return connected_since_; }
  std::uint64_t reconnects() const { return reconnects_; }
  // Replies that could not be sent because the session they belonged to had ended.
  std::uint64_t replies_lost() const { return replies_lost_; }

  void collect_fds(std::vector<curl_waitfd>& fds) override;
  void on_turn() override;
  // While the handshake or a close is under way libstrophe queues bytes we cannot see
  // (no send-queue query covers them), so the loop wakes every 10 ms until it is done.
  std::chrono::milliseconds max_wait() override;

 private:
  static void on_conn_event(xmpp_conn_t* conn, xmpp_conn_event_t event, int error, xmpp_stream_error_t* stream_error,
                            void* userdata);
  static int on_iq(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* userdata);
  static int on_sockopt(xmpp_conn_t* conn, void* sock);

  void connect();
  void handle_disconnect(int error, xmpp_stream_error_t* stream_error, bool was_connected);
  void schedule_reconnect();
  // The cause and fix of a connection that ended without a stream error.
  void describe_socket_end(int error, bool was_connected, std::string& cause, std::string& fix) const;
  void handle_iq(xmpp_stanza_t* iq);
  void handle_publish(xmpp_stanza_t* iq);
  // XEP-0050 device registration (p2's commands), answered in one step.
  void handle_command(xmpp_stanza_t* command, const std::string& from, const std::string& id);
  // A user's command has its answer from the store: one fewer in progress.
  void command_done(const std::string& user);
  // One complete stanza, built with xml::Writer (xmpp/stanza.hpp): the only way out.
  void send_raw(const std::string& xml);
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
  bool connected_ = false;
  std::chrono::system_clock::time_point connected_since_{};
  bool stopping_ = false;
  bool closing_ = false;          // xmpp_disconnect() called, waiting for the stream to end
  std::uint64_t generation_ = 0;  // bumps per session, so late replies know theirs is gone
  unsigned attempt_ = 0;
  std::uint64_t reconnects_ = 0;
  std::uint64_t replies_lost_ = 0;
  std::uint64_t ping_seq_ = 0;
  std::string ping_pending_;  // id of the ping awaiting its reply, "" when none
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
  AdhocSessions adhoc_sessions_;
  // Commands waiting for the store, by user (bare JID); entries go at 0. At most
  // kMaxCommandsPerUser each: past it a command is answered wait/resource-constraint at once.
  static constexpr unsigned kMaxCommandsPerUser = 32;
  std::unordered_map<std::string, unsigned> commands_in_flight_;
};

}  // namespace pushgate::xmpp
