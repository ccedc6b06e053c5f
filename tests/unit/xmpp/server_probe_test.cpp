// Tests for the parts of --check --online's probe that need no server: the answer its component
// connection gives to requests meant for the daemon (src/xmpp/server_probe.cpp), and the
// refusal texts it shares with the daemon (src/xmpp/component_errors.cpp), which name both
// Prosody's and ejabberd's settings.
#include <doctest/doctest.h>

#include <cerrno>

#include "test_stanza.hpp"
#include "xmpp/component_errors.hpp"
#include "xmpp/server_probe.hpp"

using namespace pushgate::xmpp;
using pushgate::test::stanza;

TEST_CASE("a publish routed to the probe's component connection gets the daemon's retry answer") {
  auto publish = stanza(
      "<iq type='set' from='localhost' to='push.localhost' id='pub1'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
      "<publish node='n1'><item><notification xmlns='urn:xmpp:push:0'/></item></publish></pubsub></iq>");
  auto reply = busy_reply("push.localhost", publish.get());
  REQUIRE(reply.has_value());
  auto r = stanza(*reply);
  CHECK(attr(r.get(), "type") == "error");
  CHECK(attr(r.get(), "id") == "pub1");
  CHECK(attr(r.get(), "to") == "localhost");
  CHECK(attr(r.get(), "from") == "push.localhost");
  CHECK(reply->find("type=\"wait\"") != std::string::npos);
  CHECK(reply->find("internal-server-error") != std::string::npos);

  auto get = stanza("<iq type='get' from='localhost' to='push.localhost' id='g1'><ping xmlns='urn:xmpp:ping'/></iq>");
  CHECK(busy_reply("push.localhost", get.get()).has_value());
}

TEST_CASE("results and errors reaching the probe are never answered") {
  for (const char* type : {"result", "error"}) {
    auto iq = stanza(std::string("<iq type='") + type + "' from='localhost' to='push.localhost' id='pg-check-1'/>");
    CHECK_FALSE(busy_reply("push.localhost", iq.get()).has_value());
  }
}

TEST_CASE("a refused component names the setting of both servers") {
  pushgate::ComponentConfig config;
  config.jid = "push.example.org";
  config.host = "127.0.0.1";
  config.port = 5347;
  xmpp_stream_error_t se{};
  se.type = XMPP_SE_NOT_AUTHORIZED;
  std::string fix = describe_stream_error(config, se, false).fix;
  CHECK(fix.find("Prosody: Component \"push.example.org\" with component_secret") != std::string::npos);
  CHECK(fix.find("ejabberd: listen: entry with module: ejabberd_service, hosts: push.example.org: password:") !=
        std::string::npos);

  se.type = XMPP_SE_HOST_UNKNOWN;
  fix = describe_stream_error(config, se, false).fix;
  CHECK(fix.find("Prosody: Component \"push.example.org\"") != std::string::npos);
  CHECK(fix.find("ejabberd_service, hosts: push.example.org:") != std::string::npos);

  fix = describe_socket_end(config, ECONNREFUSED, false).fix;
  CHECK(fix.find("component_ports") != std::string::npos);
  CHECK(fix.find("module: ejabberd_service") != std::string::npos);
}
