// libFuzzer target: the legacy Relay state machine fed any sequence of events (client and
// Prosody bytes, TLS and connect outcomes, the clock, in any order). It must never crash or
// hang, and its actions must keep the listener's contract: nothing after Close, nothing
// written to the client mid-handshake, nothing to Prosody before it is connected (or before
// its TLS is up once started), one ConnectBackend and only after the client's TLS is up.
//
// Input: byte 0 picks the configuration, byte 1 the connections already open; then events,
// each an op byte (kind = op % 11) followed, for ClientData, ClientTlsUp and BackendData, by
// a length byte and that many bytes, and for Tick by the seconds that pass.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "legacy/relay.hpp"

using pushgate::legacy::Relay;
using Kind = Relay::Event::Kind;
using Do = Relay::Action::Kind;

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  pushgate::LegacyTlsConfig config;
  config.backend_mode = (data[0] & 1) != 0 ? pushgate::BackendMode::Starttls : pushgate::BackendMode::Plain;
  config.proxy_protocol = (data[0] & 6) == 2 ? pushgate::ProxyProtocol::V1 : (data[0] & 6) == 4 ? pushgate::ProxyProtocol::V2 : pushgate::ProxyProtocol::Off;
  if ((data[0] & 8) != 0) config.domains = {"example.org"};
  if ((data[0] & 16) != 0) config.domains.push_back("example.net");
  config.max_connections = 8;
  config.pre_tls_bytes = 2048;
  config.pre_tls_seconds = 10;
  config.idle_timeout = 60;
  sockaddr_storage none{};
  Relay relay(config, none, none);
  auto now = Relay::Clock::time_point{} + std::chrono::hours(1);

  bool closed = false, tls_started = false, tls_up = false, connect_asked = false, backend_up = false;
  bool backend_tls_started = false, backend_tls_up = false;
  auto check = [&](const std::vector<Relay::Action>& actions) {
    for (const Relay::Action& a : actions) {
      require(!closed);
      switch (a.kind) {
        case Do::WriteClient:
          require(!tls_started || tls_up);
          break;
        case Do::StreamError:
          require(!tls_started || tls_up);
          require(a.bytes.rfind("<stream:error>", 0) == 0);
          require(a.bytes.size() > 16 && a.bytes.compare(a.bytes.size() - 16, 16, "</stream:stream>") == 0);
          break;
        case Do::StartClientTls:
          require(!tls_started);
          tls_started = true;
          break;
        case Do::ConnectBackend:
          require(tls_up && !connect_asked);
          connect_asked = true;
          break;
        case Do::WriteBackend:
          require(backend_up && (!backend_tls_started || backend_tls_up));
          break;
        case Do::StartBackendTls:
          require(backend_up && !backend_tls_started && config.backend_mode == pushgate::BackendMode::Starttls);
          backend_tls_started = true;
          break;
        case Do::ShutdownBackend:
        case Do::BackendRefused:
          require(backend_up);
          break;
        case Do::Close:
          closed = true;
          break;
      }
    }
    require(closed == relay.closed());
  };

  check(relay.handle({Kind::Accepted, {}, static_cast<std::size_t>(data[1] % 10)}, now));
  std::size_t at = 2;
  while (at < size) {
    auto kind = static_cast<Kind>(1 + data[at++] % 11);  // every kind but Accepted
    std::string_view bytes;
    if (kind == Kind::ClientData || kind == Kind::ClientTlsUp || kind == Kind::BackendData) {
      std::size_t n = at < size ? data[at++] : 0;
      n = std::min(n, size - at);
      bytes = std::string_view(reinterpret_cast<const char*>(data + at), n);
      at += n;
    } else if (kind == Kind::Tick) {
      now += std::chrono::seconds(at < size ? data[at++] : 1);
    }
    // What the listener would know when it reports this event.
    if (kind == Kind::ClientTlsUp && tls_started) tls_up = true;
    if (kind == Kind::BackendConnected && connect_asked) backend_up = true;
    if (kind == Kind::BackendTlsUp && backend_tls_started) backend_tls_up = true;
    check(relay.handle({kind, bytes}, now));
    require(relay.deadline() == Relay::Clock::time_point::max() || relay.deadline() > now || kind != Kind::Tick ||
            relay.closed());
  }
  return 0;
}
