// The legacy relay's state machine: what each event leads to in each state.
#include "legacy/relay.hpp"

#include <cstdio>
#include <cstring>
#include <random>

#include "common/xml_writer.hpp"

namespace pushgate::legacy {

namespace {

using Action = Relay::Action;
using Kind = Relay::Event::Kind;

const char* const kCauseNames[] = {"not-well-formed",    "restricted-xml",   "invalid-namespace", "host-unknown",
                                   "unsupported-version", "policy-violation", "connection-timeout",
                                   "remote-connection-failed", "tls-handshake", "idle-timeout",
                                   "too-many-connections"};
static_assert(sizeof kCauseNames / sizeof kCauseNames[0] == kCauses);

constexpr const char* kFeatures =
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";
constexpr const char* kProceed = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
constexpr const char* kStarttls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";

Cause cause_of(const char* condition) {
  for (int i = 0; i < kCauses; ++i) {
    if (std::strcmp(kCauseNames[i], condition) == 0) return static_cast<Cause>(i);
  }
  return Cause::PolicyViolation;
}

std::string random_stream_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(rng()));
  return id;
}

}  // namespace

const char* cause_name(Cause cause) {
  int i = static_cast<int>(cause);
  return i >= 0 && i < kCauses ? kCauseNames[i] : "none";
}

Relay::Relay(const LegacyTlsConfig& config, const sockaddr_storage& client, const sockaddr_storage& local,
             std::function<std::string()> stream_id)
    : config_(config), client_(client), local_(local), stream_id_(stream_id ? std::move(stream_id) : random_stream_id) {}

Relay::~Relay() = default;

std::vector<Action> Relay::handle(const Event& event, Clock::time_point now) {
  std::vector<Action> out;
  if (state_ == State::Closed) return out;
  if (event.kind != Kind::Tick) last_activity_ = now;
  switch (event.kind) {
    case Kind::Accepted:
      if (state_ != State::New) break;
      accepted_ = now;
      if (event.open >= static_cast<std::size_t>(config_.max_connections)) {
        close(out, Cause::TooManyConnections, "too many connections");
        break;
      }
      state_ = State::PreTls;
      preamble_ = std::make_unique<StarttlsPreamble>(config_.domains, static_cast<std::size_t>(config_.pre_tls_bytes));
      break;
    case Kind::ClientData:
      client_data(event.data, out);
      break;
    case Kind::ClientTlsUp:
      client_tls_up(event.data, out);
      break;
    case Kind::ClientTlsFailed:
      if (state_ == State::New || state_ == State::PreTls) break;  // no TLS yet
      close(out, Cause::TlsHandshake, state_ == State::ClientHandshake ? "TLS handshake failed" : "client TLS failed");
      break;
    case Kind::ClientClosed:
      if (state_ == State::Relaying) {
        // A half-close: Prosody gets the FIN and says its last words, which still reach the client.
        if (!client_done_) out.push_back({Action::Kind::ShutdownBackend});
        client_done_ = true;
      } else {
        close(out, Cause::None, "the client closed before the relay began");
      }
      break;
    case Kind::BackendConnected:
      if (state_ == State::BackendConnect) backend_connected(out);
      break;
    case Kind::BackendConnectFailed:
      if (state_ == State::BackendConnect) stream_error(out, Cause::RemoteConnectionFailed, "the XMPP server is not reachable");
      break;
    case Kind::BackendData:
      backend_data(event.data, out);
      break;
    case Kind::BackendTlsUp:
      if (state_ == State::BackendHandshake) start_relaying(out);
      break;
    case Kind::BackendTlsFailed:
      if (state_ == State::BackendHandshake) stream_error(out, Cause::RemoteConnectionFailed, "TLS with the XMPP server failed");
      break;
    case Kind::BackendClosed:
      if (state_ == State::Relaying) {
        std::string rest = features_.finish();  // e.g. Prosody's own stream error, before any features
        if (!rest.empty()) write_client(out, std::move(rest), true);
        close(out, Cause::None, "the XMPP server ended the stream");
      } else if (state_ == State::BackendConnect || state_ == State::BackendPreTls || state_ == State::BackendHandshake) {
        stream_error(out, Cause::RemoteConnectionFailed, "the XMPP server closed the connection");
      }
      break;
    case Kind::Tick:
      tick(now, out);
      break;
  }
  return out;
}

void Relay::client_data(std::string_view data, std::vector<Action>& out) {
  if (data.empty()) return;
  switch (state_) {
    case State::PreTls:
      // Direct TLS (XEP-0368) on the same port: the connection opens with a TLS handshake record.
      if (!client_spoke_ && static_cast<unsigned char>(data[0]) == 0x16) {
        client_spoke_ = true;
        state_ = State::ClientHandshake;
        preamble_.reset();
        out.push_back({Action::Kind::StartClientTls, std::string(data)});
        return;
      }
      client_spoke_ = true;
      preamble(data, out);
      return;
    case State::BackendConnect:
    case State::BackendPreTls:
    case State::BackendHandshake:
      held_.append(data);  // the client's new stream header, before Prosody is ready for it
      return;
    case State::Relaying:
      if (!client_done_) out.push_back({Action::Kind::WriteBackend, std::string(data), true});
      return;
    default:
      return;  // no plaintext exists in the other states
  }
}

void Relay::preamble(std::string_view data, std::vector<Action>& out) {
  StarttlsPreamble::Step step = preamble_->feed(data);
  for (;;) {
    switch (step) {
      case StarttlsPreamble::Step::StreamHeader: {
        domain_ = preamble_->domain();
        header_sent_ = true;
        std::string header = our_stream_header();
        step = preamble_->feed("");
        // Header and features in one write: some clients look for both in a single read.
        if (step != StarttlsPreamble::Step::Error) header += kFeatures;
        write_client(out, std::move(header));
        continue;
      }
      case StarttlsPreamble::Step::Proceed: {
        write_client(out, kProceed);
        std::string leftover = preamble_->leftover();  // the start of the ClientHello, if any
        state_ = State::ClientHandshake;
        preamble_.reset();
        out.push_back({Action::Kind::StartClientTls, std::move(leftover)});
        return;
      }
      case StarttlsPreamble::Step::Error:
        if (preamble_->condition()[0] == '\0') {
          write_client(out, "</stream:stream>");
          close(out, Cause::None, "the client closed its stream");
        } else {
          stream_error(out, cause_of(preamble_->condition()), preamble_->text());
        }
        return;
      case StarttlsPreamble::Step::NeedMore:
        return;
    }
  }
}

void Relay::client_tls_up(std::string_view sni, std::vector<Action>& out) {
  if (state_ != State::ClientHandshake) return;
  // Direct TLS: the domain comes from SNI.
  if (domain_.empty()) domain_ = sni;
  if (domain_.empty() && config_.domains.size() == 1) domain_ = config_.domains[0];
  // Only now, with TLS up, does Prosody hear of this client.
  state_ = State::BackendConnect;
  out.push_back({Action::Kind::ConnectBackend});
}

void Relay::backend_connected(std::vector<Action>& out) {
  if (config_.proxy_protocol != ProxyProtocol::Off) {
    std::string header = proxy_header(config_.proxy_protocol == ProxyProtocol::V1 ? 1 : 2, client_, local_);
    if (!header.empty()) out.push_back({Action::Kind::WriteBackend, std::move(header)});
  }
  if (config_.backend_mode == BackendMode::Starttls) {
    state_ = State::BackendPreTls;
    out.push_back({Action::Kind::WriteBackend, backend_stream_header(domain_)});
  } else {
    start_relaying(out);
  }
}

void Relay::backend_data(std::string_view data, std::vector<Action>& out) {
  if (state_ == State::Relaying) {
    std::string passed = features_.feed(data);  // SCRAM-*-PLUS out of the first features
    if (!passed.empty()) write_client(out, std::move(passed), true);
    return;
  }
  if (state_ != State::BackendPreTls) return;
  switch (backend_starttls_.feed(data)) {
    case BackendStarttls::Step::SendStarttls:
      out.push_back({Action::Kind::WriteBackend, kStarttls});
      break;
    case BackendStarttls::Step::StartTls:
      state_ = State::BackendHandshake;
      out.push_back({Action::Kind::StartBackendTls, domain_});
      break;
    case BackendStarttls::Step::Error: {
      Action refused{Action::Kind::BackendRefused};
      refused.text = backend_starttls_.error();
      out.push_back(std::move(refused));
      stream_error(out, Cause::RemoteConnectionFailed, "the XMPP server refused the connection");
      break;
    }
    case BackendStarttls::Step::NeedMore:
      break;
  }
}

void Relay::start_relaying(std::vector<Action>& out) {
  state_ = State::Relaying;
  // The client's new stream header (and anything after it) goes to Prosody now.
  if (!held_.empty()) out.push_back({Action::Kind::WriteBackend, std::move(held_), true});
  held_.clear();
}

void Relay::tick(Clock::time_point now, std::vector<Action>& out) {
  bool pre_tls = state_ == State::PreTls || state_ == State::ClientHandshake;
  if (pre_tls && now >= accepted_ + std::chrono::seconds(config_.pre_tls_seconds)) {
    if (state_ == State::PreTls) {
      stream_error(out, Cause::ConnectionTimeout, "no STARTTLS within " + std::to_string(config_.pre_tls_seconds) + " s");
    } else {
      close(out, Cause::ConnectionTimeout, "TLS handshake too slow");  // nothing can be said mid-handshake
    }
    return;
  }
  if (state_ != State::New && now >= last_activity_ + std::chrono::seconds(config_.idle_timeout)) {
    close(out, Cause::IdleTimeout, "idle");
  }
}

Relay::Clock::time_point Relay::deadline() const {
  if (state_ == State::New || state_ == State::Closed) return Clock::time_point::max();
  auto idle = last_activity_ + std::chrono::seconds(config_.idle_timeout);
  if (state_ != State::PreTls && state_ != State::ClientHandshake) return idle;
  return std::min(idle, accepted_ + std::chrono::seconds(config_.pre_tls_seconds));
}

void Relay::write_client(std::vector<Action>& out, std::string bytes, bool relayed) {
  // Consecutive writes become one, so what belongs together reaches the client in one read.
  if (!out.empty() && out.back().kind == Action::Kind::WriteClient && out.back().relayed == relayed) {
    out.back().bytes += bytes;
    return;
  }
  out.push_back({Action::Kind::WriteClient, std::move(bytes), relayed});
}

void Relay::stream_error(std::vector<Action>& out, Cause cause, const std::string& text) {
  // Mid-handshake nothing can be written; elsewhere the client has opened a stream (before
  // TLS, or again after it) that we have not answered yet: answer it, then fail it.
  if (state_ != State::ClientHandshake) {
    bool before_tls = state_ == State::PreTls || state_ == State::New;
    if (!before_tls || !header_sent_) write_client(out, our_stream_header());
    header_sent_ = true;
    xml::Writer w;
    w.open("stream:error");
    w.open(xml::Name::ours(cause_name(cause))).attr("xmlns", "urn:ietf:params:xml:ns:xmpp-streams").close();
    w.open("text").attr("xmlns", "urn:ietf:params:xml:ns:xmpp-streams").text(text).close();
    out.push_back({Action::Kind::StreamError, w.finish() + "</stream:stream>", false, cause, text});
    close(out, Cause::None, "stream error");
    return;
  }
  close(out, cause, text);
}

void Relay::close(std::vector<Action>& out, Cause cause, std::string text) {
  state_ = State::Closed;
  preamble_.reset();
  held_.clear();
  out.push_back({Action::Kind::Close, {}, false, cause, std::move(text)});
}

std::string Relay::our_stream_header() const {
  std::string from = domain_.empty() && config_.domains.size() == 1 ? config_.domains[0] : domain_;
  xml::Writer w;
  w.open("stream:stream").attr("xmlns", "jabber:client").attr("xmlns:stream", "http://etherx.jabber.org/streams");
  w.attr("id", stream_id_());
  if (!from.empty()) w.attr("from", from);
  w.attr("version", "1.0").attr("xml:lang", "en");
  return "<?xml version='1.0'?>" + w.head();
}

}  // namespace pushgate::legacy
