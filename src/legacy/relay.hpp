// One old client's connection as a state machine: events in (what the client or Prosody sent,
// how TLS and the backend connection went, the clock), actions out (bytes to write, TLS to
// start, Prosody to connect, the end). No sockets and no OpenSSL: LegacyConnection performs
// the actions and reports what happens as events. Rules: DESIGN.md "Legacy TLS listener rules".
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "legacy/backend_stream.hpp"
#include "legacy/starttls_preamble.hpp"

namespace pushgate::legacy {

// Why a connection ended, as counted in pushgate_legacy_errors_total{cause}.
enum class Cause {
  NotWellFormed, RestrictedXml, InvalidNamespace, HostUnknown, UnsupportedVersion, PolicyViolation,
  ConnectionTimeout, RemoteConnectionFailed,  // these eight are also RFC 6120 stream error conditions
  TlsHandshake, IdleTimeout, TooManyConnections,
  None,  // an ordinary end: not counted
};
constexpr int kCauses = static_cast<int>(Cause::None);
// The metric label, which is the stream error condition where there is one: "host-unknown".
const char* cause_name(Cause cause);

class Relay {
 public:
  using Clock = std::chrono::steady_clock;

  struct Event {
    enum class Kind {
      Accepted,              // a new connection; `open`: connections already open beside it
      ClientData,            // bytes from the client: as read before StartClientTls, decrypted after
      ClientTlsUp,           // the client's handshake is done; `data`: the SNI name it asked for, if any
      ClientTlsFailed,       // the client's handshake, or a record after it, failed
      ClientClosed,          // the client's end: TCP FIN, TLS close_notify or a reset
      BackendConnected,      // the TCP connection to Prosody is up
      BackendConnectFailed,  // … could not be made
      BackendData,           // bytes from Prosody: as read, or decrypted after StartBackendTls
      BackendTlsUp,          // the handshake with Prosody is done
      BackendTlsFailed,      // … failed
      BackendClosed,         // Prosody's end (or a failed write to it)
      Tick,                  // the clock reached deadline()
    };
    Kind kind;
    std::string_view data = {};
    std::size_t open = 0;
  };

  struct Action {
    enum class Kind {
      WriteClient,      // `bytes` to the client: on the TCP stream before StartClientTls, through TLS after
      StartClientTls,   // server TLS on the client's connection; `bytes` were read already and belong to it
      ConnectBackend,   // open the TCP connection to Prosody; BackendConnected or BackendConnectFailed follows
      WriteBackend,     // `bytes` to Prosody: on the TCP stream, or through TLS after StartBackendTls
      StartBackendTls,  // client TLS towards Prosody; `bytes`: the SNI name (may be empty)
      ShutdownBackend,  // the client has finished: end the way to Prosody (FIN) once its bytes are out
      BackendRefused,   // Prosody refused the relay before TLS; `text`: what it said, for the operator
      StreamError,      // `bytes`: a stream error for the client, written as WriteClient; `cause` and
                        // `text` (the sentence in it) for the counters and the log
      Close,            // the end: close_notify if the client's TLS is up, write what is queued, close
                        // both; `cause` (counted unless None) and `text` say why
    };
    Kind kind;
    std::string bytes = {};
    bool relayed = false;  // Write*: bytes passed on from the other side (pushgate_legacy_relay_bytes_total)
    Cause cause = Cause::None;
    std::string text = {};
  };

  // `config` must outlive the relay. `client` and `local` are the connection's addresses, for
  // the PROXY header. `stream_id` makes the id of each stream header we send (random by default).
  Relay(const LegacyTlsConfig& config, const sockaddr_storage& client, const sockaddr_storage& local,
        std::function<std::string()> stream_id = {});
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Handles one event that happened at `now` and returns the actions it leads to, in order.
  // Accepted comes first. Events that do not fit the state (Prosody's bytes before it is
  // connected) are ignored; so is everything after Close.
  std::vector<Action> handle(const Event& event, Clock::time_point now);

  // When the next Tick is due: the pre-TLS deadline, the idle deadline; max() once closed.
  Clock::time_point deadline() const;
  // Client plaintext held until Prosody's side is ready. The listener stops reading the
  // client while this and what waits for Prosody's socket pass its high-water mark.
  std::size_t held() const { return held_.size(); }
  bool closed() const { return state_ == State::Closed; }
  // The stream's domain: the client's `to`, else its SNI name, else the one configured domain.
  const std::string& domain() const { return domain_; }

 private:
  enum class State { New, PreTls, ClientHandshake, BackendConnect, BackendPreTls, BackendHandshake, Relaying, Closed };

  void client_data(std::string_view data, std::vector<Action>& out);
  void preamble(std::string_view data, std::vector<Action>& out);
  void client_tls_up(std::string_view sni, std::vector<Action>& out);
  void backend_connected(std::vector<Action>& out);
  void backend_data(std::string_view data, std::vector<Action>& out);
  void start_relaying(std::vector<Action>& out);
  void tick(Clock::time_point now, std::vector<Action>& out);
  void write_client(std::vector<Action>& out, std::string bytes, bool relayed = false);
  void stream_error(std::vector<Action>& out, Cause cause, const std::string& text);
  void close(std::vector<Action>& out, Cause cause, std::string text);
  std::string our_stream_header() const;

  const LegacyTlsConfig& config_;
  sockaddr_storage client_;
  sockaddr_storage local_;
  std::function<std::string()> stream_id_;
  State state_ = State::New;
  std::unique_ptr<StarttlsPreamble> preamble_;  // PreTls only: the parser's memory goes with it
  BackendStarttls backend_starttls_;
  FeaturesFilter features_;
  std::string held_;
  std::string domain_;
  bool client_spoke_ = false;  // a first byte arrived: only that one can start direct TLS
  bool header_sent_ = false;   // our stream header went out before TLS
  bool client_done_ = false;   // half-closed by the client
  Clock::time_point accepted_{};
  Clock::time_point last_activity_{};
};

}  // namespace pushgate::legacy
