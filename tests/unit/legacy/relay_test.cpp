// Tests for src/legacy/relay.cpp: whole connections scripted step by step (relay_script.hpp),
// from the client's first byte to the end, in both backend modes.
#include "legacy/relay.hpp"

#include <doctest/doctest.h>

#include "relay_script.hpp"

using namespace relay_script;
using namespace std::chrono_literals;

namespace {

const std::string kHeader =
    "<?xml version='1.0'?><stream:stream to='example.org' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
const std::string kStarttls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
const std::string kProceed = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
const std::string kFeatures =
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";
const std::string kHello("\x16\x03\x01\x00\x05hello", 10);  // what TLS reads; the relay never looks inside

// Our stream header as the relay writes it, with stream id `id`.
std::string ours(const std::string& id, const std::string& from = "example.org") {
  return "<?xml version='1.0'?><stream:stream xmlns=\"jabber:client\" xmlns:stream=\"http://etherx.jabber.org/streams\" "
         "id=\"" + id + "\"" + (from.empty() ? "" : " from=\"" + from + "\"") + " version=\"1.0\" xml:lang=\"en\">";
}

// Our stream header towards Prosody's c2s port in starttls mode.
const std::string kBackendHeader =
    "<?xml version='1.0'?><stream:stream xmlns=\"jabber:client\" xmlns:stream=\"http://etherx.jabber.org/streams\" "
    "to=\"example.org\" version=\"1.0\">";
const std::string kProsodyStarttls =
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";

// Prosody's answer to the relayed stream header: its features, with channel binding the
// client cannot use through a proxy.
const std::string kProsodyHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "id='p1' from='example.org' version='1.0'>";
const std::string kProsodyFeatures =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1-PLUS</mechanism>"
    "<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>";
const std::string kRelayedFeatures =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism>"
    "</mechanisms></stream:features>";

LegacyTlsConfig config(pushgate::BackendMode mode = pushgate::BackendMode::Plain) {
  LegacyTlsConfig c;
  c.enabled = true;
  c.backend = "127.0.0.1:5200";
  c.backend_mode = mode;
  c.domains = {"example.org"};
  c.max_connections = 3;
  c.pre_tls_bytes = 1024;
  c.pre_tls_seconds = 10;
  c.idle_timeout = 900;
  return c;
}

// The steps every STARTTLS connection takes up to the client's TLS being up.
std::vector<Step> up_to_tls() {
  return {accepted(),        client_sends(kHeader),  writes_client(ours("id1") + kFeatures),
          client_sends(kStarttls), writes_client(kProceed), starts_client_tls(),
          client_tls_up(),   connects_backend()};
}

std::vector<Step> operator+(std::vector<Step> a, const std::vector<Step>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("STARTTLS, then the client's new stream is relayed to a plain backend, SCRAM-*-PLUS removed") {
  Script(config()).run(up_to_tls() + std::vector<Step>{
      client_sends(kHeader),  // decrypted: held until Prosody is connected
      backend_connects(),
      relays_to_backend(kHeader),
      backend_sends(kProsodyHeader + kProsodyFeatures),
      relays_to_client(kProsodyHeader + kRelayedFeatures),
      client_sends("<auth/>"),
      relays_to_backend("<auth/>"),
      backend_sends("<mechanism>SCRAM-SHA-1-PLUS</mechanism>"),  // past the first features: untouched
      relays_to_client("<mechanism>SCRAM-SHA-1-PLUS</mechanism>"),
  });
}

TEST_CASE("header and STARTTLS in one read: header, features and proceed in one write; the ClientHello goes to TLS") {
  Script(config()).run({
      accepted(),
      client_sends(kHeader + kStarttls + kHello),
      writes_client(ours("id1") + kFeatures + kProceed),
      starts_client_tls(kHello),
  });
}

TEST_CASE("starttls backend: STARTTLS with Prosody first, then the held stream header through its TLS") {
  Script(config(pushgate::BackendMode::Starttls)).run(up_to_tls() + std::vector<Step>{
      client_sends(kHeader),
      backend_connects(),
      writes_backend(kBackendHeader),
      backend_sends(kProsodyHeader + kProsodyStarttls),
      writes_backend(kStarttls),
      backend_sends(kProceed),
      starts_backend_tls("example.org"),
      client_sends("<more/>"),  // still held: Prosody's TLS is not up
      backend_tls_up(),
      relays_to_backend(kHeader + "<more/>"),
      backend_sends(kProsodyHeader + kProsodyFeatures),
      relays_to_client(kProsodyHeader + kRelayedFeatures),
  });
}

TEST_CASE("starttls backend that offers no STARTTLS: the operator hears why, the client gets remote-connection-failed") {
  Script(config(pushgate::BackendMode::Starttls)).run(up_to_tls() + std::vector<Step>{
      backend_connects(),
      writes_backend(kBackendHeader),
      backend_sends(kProsodyHeader + kProsodyFeatures),
      reports_backend_refusal("Prosody's c2s port offers no STARTTLS: use backend_mode = \"plain\" or enable TLS in Prosody"),
      writes_client(ours("id2")),  // the client's new stream, answered, then failed
      sends_stream_error(Cause::RemoteConnectionFailed),
      closes(),
  });
}

TEST_CASE("starttls backend whose TLS fails, or which closes before the relay: remote-connection-failed") {
  std::vector<Step> to_backend_tls = up_to_tls() + std::vector<Step>{
      backend_connects(),   writes_backend(kBackendHeader), backend_sends(kProsodyHeader + kProsodyStarttls),
      writes_backend(kStarttls), backend_sends(kProceed),    starts_backend_tls("example.org"),
  };
  SUBCASE("its handshake fails") {
    Script(config(pushgate::BackendMode::Starttls)).run(to_backend_tls + std::vector<Step>{
        backend_tls_fails(), writes_client(ours("id2")), sends_stream_error(Cause::RemoteConnectionFailed), closes()});
  }
  SUBCASE("it closes the connection") {
    Script(config(pushgate::BackendMode::Starttls)).run(to_backend_tls + std::vector<Step>{
        backend_closes(), writes_client(ours("id2")), sends_stream_error(Cause::RemoteConnectionFailed), closes()});
  }
}

TEST_CASE("Prosody down: the client's new stream is answered with remote-connection-failed") {
  Script s(config());
  s.run(up_to_tls() + std::vector<Step>{
      client_sends(kHeader),
      backend_connect_fails(),
      writes_client(ours("id2")),
      sends_stream_error(Cause::RemoteConnectionFailed),
      closes(),
      backend_connects(),  // too late: everything after the end is ignored
      client_sends("<presence/>"),
  });
  CHECK(s.relay().closed());
  CHECK(s.relay().held() == 0);
}

TEST_CASE("direct TLS: a first byte of 0x16 is a ClientHello; the domain comes from SNI") {
  LegacyTlsConfig c = config(pushgate::BackendMode::Starttls);
  c.domains = {"example.org", "example.net"};
  Script(c).run({
      accepted(),
      client_sends(kHello),
      starts_client_tls(kHello),
      client_tls_up("example.net"),
      connects_backend(),
      backend_connects(),
      writes_backend("<?xml version='1.0'?><stream:stream xmlns=\"jabber:client\" "
                     "xmlns:stream=\"http://etherx.jabber.org/streams\" to=\"example.net\" version=\"1.0\">"),
  });
}

TEST_CASE("direct TLS without SNI serves the one configured domain") {
  Script s(config());
  s.run({accepted(), client_sends(kHello), starts_client_tls(kHello), client_tls_up(""), connects_backend()});
  CHECK(s.relay().domain() == "example.org");
}

TEST_CASE("0x16 later than the first byte is not TLS but broken XML") {
  Script(config()).run({
      accepted(),
      client_sends("<"),
      client_sends(std::string("\x16", 1)),
      writes_client(ours("id1")),
      sends_stream_error(Cause::NotWellFormed),
      closes(),
  });
}

TEST_CASE("stream errors before TLS: our header, the error, the end") {
  struct Case {
    std::string input;
    Cause cause;
  };
  std::string v09 = kHeader;
  v09.replace(v09.rfind("version='1.0'"), 13, "version='0.9'");
  for (const Case& k : std::vector<Case>{
           {"<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
            Cause::HostUnknown},
           {v09, Cause::UnsupportedVersion},
           {kHeader + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'></oops>", Cause::NotWellFormed},
           {kHeader + "<!-- hi -->", Cause::RestrictedXml},
           {kHeader + "<message/>", Cause::PolicyViolation},
       }) {
    CAPTURE(k.input);
    // The error is found in the same read as the header: no features before it.
    std::string from = k.cause == Cause::HostUnknown ? "example.com" : "example.org";
    Script(config()).run({
        accepted(),
        client_sends(k.input),
        writes_client(ours("id1", from)),
        sends_stream_error(k.cause),
        closes(),
    });
  }
}

TEST_CASE("the stream error's bytes: condition and text in the streams namespace, then the stream's end") {
  LegacyTlsConfig c = config();
  Relay relay(c, v4("192.0.2.7", 1), v4("192.0.2.8", 2), [] { return std::string("x"); });
  auto now = Relay::Clock::now();
  relay.handle({Event::Accepted}, now);
  auto actions = relay.handle({Event::ClientData, "<?xml version='1.0'?><stream:stream to='example.com' "
                                                  "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                                                  "version='1.0'>"},
                              now);
  REQUIRE(actions.size() == 3);
  CHECK(actions[1].bytes ==
        "<stream:error><host-unknown xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/><text "
        "xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\">this server does not serve that domain</text></stream:error>"
        "</stream:stream>");
  CHECK(actions[1].text == "this server does not serve that domain");
}

TEST_CASE("pre-TLS byte limit: more than pre_tls_bytes before TLS is policy-violation") {
  Script(config()).run({
      accepted(),
      client_sends(kHeader),
      writes_client(ours("id1") + kFeatures),
      client_sends(std::string(1024 - kHeader.size(), ' ')),  // exactly the budget: fine
      client_sends(" "),
      sends_stream_error(Cause::PolicyViolation),
      closes(),
  });
}

TEST_CASE("pre-TLS time limit: connection-timeout before TLS, a silent close during the handshake") {
  SUBCASE("half a header, then nothing") {
    Script(config()).run({
        accepted(),
        client_sends(kHeader.substr(0, 40)),
        time_passes(9s),
        time_passes(1s),
        writes_client(ours("id1", "example.org")),
        sends_stream_error(Cause::ConnectionTimeout),
        closes(),
    });
  }
  SUBCASE("a header, then no STARTTLS: no second header") {
    Script(config()).run({accepted(), client_sends(kHeader), writes_client(ours("id1") + kFeatures), time_passes(10s),
                          sends_stream_error(Cause::ConnectionTimeout), closes()});
  }
  SUBCASE("a handshake that does not finish in time") {
    Script(config()).run({accepted(), client_sends(kHello), starts_client_tls(kHello), time_passes(9s), time_passes(1s),
                          closes(Cause::ConnectionTimeout)});
  }
}

TEST_CASE("PROXY protocol: the header goes to Prosody before anything the client said") {
  SUBCASE("v1") {
    LegacyTlsConfig c = config();
    c.proxy_protocol = pushgate::ProxyProtocol::V1;
    Script(c).run(up_to_tls() + std::vector<Step>{
        client_sends(kHeader), backend_connects(),
        writes_backend("PROXY TCP4 192.0.2.7 198.51.100.1 40000 5222\r\n"), relays_to_backend(kHeader)});
  }
  SUBCASE("v2, in starttls mode before our own stream header") {
    LegacyTlsConfig c = config(pushgate::BackendMode::Starttls);
    c.proxy_protocol = pushgate::ProxyProtocol::V2;
    std::string v2("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c", 16);
    v2 += std::string("\xc0\x00\x02\x07\xc6\x33\x64\x01\x9c\x40\x14\x66", 12);
    Script(c).run(up_to_tls() + std::vector<Step>{backend_connects(), writes_backend(v2), writes_backend(kBackendHeader)});
  }
}

TEST_CASE("idle timeout: idle_timeout seconds without a byte either way ends the connection") {
  Script(config()).run(up_to_tls() + std::vector<Step>{
      backend_connects(),
      time_passes(899s),
      backend_sends(kProsodyHeader + kProsodyFeatures),  // activity moves the deadline
      relays_to_client(kProsodyHeader + kRelayedFeatures),
      time_passes(899s),
      client_sends("<a/>"),
      relays_to_backend("<a/>"),
      time_passes(899s),
      time_passes(1s),
      closes(Cause::IdleTimeout),
  });
}

TEST_CASE("max connections: one more than max_connections is closed at once, without a word") {
  Script(config()).run({accepted(3), closes(Cause::TooManyConnections), client_sends(kHeader)});
  Script(config()).run({accepted(2), client_sends(kHeader), writes_client(ours("id1") + kFeatures)});
}

TEST_CASE("half-close by the client: Prosody gets the FIN, its last words still reach the client") {
  Script(config()).run(up_to_tls() + std::vector<Step>{
      client_sends(kHeader), backend_connects(), relays_to_backend(kHeader),
      backend_sends(kProsodyHeader + kProsodyFeatures), relays_to_client(kProsodyHeader + kRelayedFeatures),
      client_sends("</stream:stream>"), relays_to_backend("</stream:stream>"),
      client_closes(), shuts_down_backend(),
      client_closes(),  // the TCP FIN after TLS close_notify: nothing more to do
      backend_sends("</stream:stream>"), relays_to_client("</stream:stream>"),
      backend_closes(), closes(),
  });
}

TEST_CASE("Prosody ends the stream first: the client gets the rest, then the end") {
  Script(config()).run(up_to_tls() + std::vector<Step>{
      backend_connects(), backend_sends(kProsodyHeader + kProsodyFeatures),
      relays_to_client(kProsodyHeader + kRelayedFeatures), backend_sends("</stream:stream>"),
      relays_to_client("</stream:stream>"), backend_closes(), closes(), client_sends("<late/>")});
}

TEST_CASE("Prosody refuses the relayed stream before any features: its stream error still reaches the client") {
  std::string refusal = kProsodyHeader + "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                                         "</stream:error></stream:stream>";
  Script(config()).run(up_to_tls() + std::vector<Step>{
      backend_connects(), backend_sends(refusal),  // held: the features filter waits for the features
      backend_closes(), relays_to_client(refusal), closes()});
}

TEST_CASE("the client leaves before the relay began: closed, Prosody never connected") {
  Script(config()).run({accepted(), client_sends(kHeader), writes_client(ours("id1") + kFeatures), client_closes(), closes()});
  Script(config()).run(up_to_tls() + std::vector<Step>{client_closes(), closes()});
}

TEST_CASE("the client closes its stream before TLS: we close ours") {
  Script(config()).run({accepted(), client_sends(kHeader + "</stream:stream>"), writes_client(ours("id1") + "</stream:stream>"),
                        closes()});
}

TEST_CASE("a failed TLS handshake ends the connection without a stream error") {
  Script(config()).run({accepted(), client_sends(kHello), starts_client_tls(kHello), client_tls_fails(),
                        closes(Cause::TlsHandshake)});
}

TEST_CASE("events that do not fit the state are ignored") {
  Script(config()).run({
      accepted(),
      backend_sends("<early/>"), backend_connects(), backend_tls_up(), client_tls_up("example.org"), client_tls_fails(),
      client_sends(kHeader), writes_client(ours("id1") + kFeatures),
  });
}

TEST_CASE("deadline: the pre-TLS one until the handshake, then the idle one") {
  Script s(config());
  auto t0 = s.now();
  CHECK(s.relay().deadline() == Relay::Clock::time_point::max());
  s.run({accepted()});
  CHECK(s.relay().deadline() == t0 + 10s);
  s.run({client_sends(kHello), starts_client_tls(kHello), time_passes(2s), client_tls_up(), connects_backend()});
  CHECK(s.relay().deadline() == t0 + 2s + 900s);
  s.run({client_sends("<held/>")});
  CHECK(s.relay().held() == 7);
  s.run({client_closes(), closes()});
  CHECK(s.relay().deadline() == Relay::Clock::time_point::max());
}

TEST_CASE("the preamble split at every byte: the features come with the header's last byte, proceed with the last") {
  std::vector<Step> steps{accepted()};
  std::string all = kHeader + kStarttls;
  for (std::size_t i = 0; i < all.size(); ++i) {
    steps.push_back(client_sends(all.substr(i, 1)));
    if (i + 1 == kHeader.size()) steps.push_back(writes_client(ours("id1") + kFeatures));
  }
  steps.push_back(writes_client(kProceed));
  steps.push_back(starts_client_tls());
  Script(config()).run(steps);
}
