// Scripted connections for the legacy Relay, in the style of dnsdist's ExpectedStep: a test
// lists what happens (the client sends X, Prosody answers Y, time passes) and what the relay
// must do about it (write Z to the client, connect Prosody, close with stream error E), in
// order. run() drives the relay and checks every action against the next expected step;
// an action nobody expected, or one expected that never came, fails the test at that step.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "legacy/relay.hpp"

namespace relay_script {

using pushgate::LegacyTlsConfig;
using pushgate::legacy::Cause;
using pushgate::legacy::Relay;
using Event = Relay::Event::Kind;
using Do = Relay::Action::Kind;

struct Step {
  enum class Type { Input, Expect, TimePasses } type;
  Event event = Event::Tick;  // Input
  std::size_t open = 0;       // Input Accepted
  Relay::Action action{Do::Close};  // Expect
  std::chrono::seconds wait{0};     // TimePasses
  std::string data = {};      // Input: the event's bytes
};

// What happens.
inline Step accepted(std::size_t open = 0) { return {Step::Type::Input, Event::Accepted, open}; }
inline Step input(Event e, std::string data = {}) { return {Step::Type::Input, e, 0, {Do::Close}, {}, std::move(data)}; }
inline Step client_sends(std::string b) { return input(Event::ClientData, std::move(b)); }
inline Step client_tls_up(std::string sni = {}) { return input(Event::ClientTlsUp, std::move(sni)); }
inline Step client_tls_fails() { return input(Event::ClientTlsFailed); }
inline Step client_closes() { return input(Event::ClientClosed); }
inline Step backend_connects() { return input(Event::BackendConnected); }
inline Step backend_connect_fails() { return input(Event::BackendConnectFailed, "Connection refused"); }
inline Step backend_sends(std::string b) { return input(Event::BackendData, std::move(b)); }
inline Step backend_tls_up() { return input(Event::BackendTlsUp); }
inline Step backend_tls_fails() { return input(Event::BackendTlsFailed); }
inline Step backend_closes() { return input(Event::BackendClosed); }
// The clock moves on; the relay gets a Tick if its deadline() has come, as the listener's timer would.
inline Step time_passes(std::chrono::seconds s) { return {Step::Type::TimePasses, Event::Tick, 0, {Do::Close}, s}; }

// What the relay must do.
inline Step expect(Relay::Action a) { return {Step::Type::Expect, Event::Tick, 0, std::move(a)}; }
inline Step writes_client(std::string b) { return expect({Do::WriteClient, std::move(b)}); }
inline Step relays_to_client(std::string b) { return expect({Do::WriteClient, std::move(b), true}); }
inline Step starts_client_tls(std::string b = {}) { return expect({Do::StartClientTls, std::move(b)}); }
inline Step connects_backend() { return expect({Do::ConnectBackend}); }
inline Step writes_backend(std::string b) { return expect({Do::WriteBackend, std::move(b)}); }
inline Step relays_to_backend(std::string b) { return expect({Do::WriteBackend, std::move(b), true}); }
inline Step starts_backend_tls(std::string sni) { return expect({Do::StartBackendTls, std::move(sni)}); }
inline Step shuts_down_backend() { return expect({Do::ShutdownBackend}); }
inline Step reports_backend_refusal(std::string text) { return expect({Do::BackendRefused, {}, false, Cause::None, std::move(text)}); }
// A stream error with this cause (its bytes are checked to carry the condition and end the stream).
inline Step sends_stream_error(Cause c) { return expect({Do::StreamError, {}, false, c}); }
inline Step closes(Cause c = Cause::None) { return expect({Do::Close, {}, false, c}); }

// One line per action, for comparing and for the failure message.
inline std::string describe(const Relay::Action& a) {
  auto bytes = [&] { return "(" + a.bytes + ")"; };
  switch (a.kind) {
    case Do::WriteClient: return (a.relayed ? "relays to client" : "writes client") + bytes();
    case Do::StartClientTls: return "starts client TLS" + bytes();
    case Do::ConnectBackend: return "connects backend";
    case Do::WriteBackend: return (a.relayed ? "relays to backend" : "writes backend") + bytes();
    case Do::StartBackendTls: return "starts backend TLS" + bytes();
    case Do::ShutdownBackend: return "shuts down backend";
    case Do::BackendRefused: return "reports backend refusal(" + a.text + ")";
    case Do::StreamError: return std::string("sends stream error ") + cause_name(a.cause);
    case Do::Close: return std::string("closes ") + cause_name(a.cause);
  }
  return "?";
}

inline sockaddr_storage v4(const char* ip, int port) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, ip, &a->sin_addr);
  return ss;
}

// A relay from client 192.0.2.7:40000 to our 198.51.100.1:5222, whose stream ids are id1, id2, …
class Script {
 public:
  explicit Script(LegacyTlsConfig config)
      : config_(std::move(config)),
        relay_(config_, v4("192.0.2.7", 40000), v4("198.51.100.1", 5222), [this] { return "id" + std::to_string(++ids_); }) {}

  void run(const std::vector<Step>& steps) {
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const Step& s = steps[i];
      CAPTURE(i);
      if (s.type == Step::Type::Expect) {
        REQUIRE_MESSAGE(!pending_.empty(), "expected `" << describe(s.action) << "`, the relay did nothing more");
        Relay::Action got = std::move(pending_.front());
        pending_.pop_front();
        if (s.action.kind == Do::StreamError && got.kind == Do::StreamError) {
          std::string condition = std::string("<") + cause_name(s.action.cause) + " xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/>";
          CHECK(got.bytes.rfind("<stream:error>", 0) == 0);
          CHECK(got.bytes.find(condition) != std::string::npos);
          CHECK(got.bytes.size() >= 16);
          CHECK(got.bytes.substr(got.bytes.size() - 16) == "</stream:stream>");
          got.bytes.clear();
        }
        REQUIRE(describe(got) == describe(s.action));
        continue;
      }
      REQUIRE_MESSAGE(pending_.empty(), "the relay did `" << describe(pending_.front()) << "`, which the script does not expect");
      if (s.type == Step::Type::TimePasses) {
        now_ += s.wait;
        if (relay_.deadline() <= now_) take(relay_.handle({Event::Tick}, now_));
      } else {
        take(relay_.handle({s.event, s.data, s.open}, now_));
      }
    }
    CHECK_MESSAGE(pending_.empty(), "the relay did `" << describe(pending_.front()) << "`, which the script does not expect");
  }

  Relay& relay() { return relay_; }
  Relay::Clock::time_point now() const { return now_; }

 private:
  void take(std::vector<Relay::Action> actions) {
    for (auto& a : actions) pending_.push_back(std::move(a));
  }
  LegacyTlsConfig config_;
  int ids_ = 0;
  Relay relay_;
  std::deque<Relay::Action> pending_;
  Relay::Clock::time_point now_ = Relay::Clock::time_point{} + std::chrono::hours(1);
};

}  // namespace relay_script
