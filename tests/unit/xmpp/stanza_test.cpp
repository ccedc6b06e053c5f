// Tests for src/xmpp/stanza.cpp: the replies pushgate sends to Prosody.
#include <doctest/doctest.h>

#include "test_stanza.hpp"

using namespace pushgate;
using pushgate::test::strophe_ctx;
using pushgate::test::to_text;

TEST_CASE("a result reply goes from the component to the IQ's sender with the same id") {
  auto r = xmpp::make_iq_reply(strophe_ctx(), "push.example.org", "example.org", "id-7", {"", ""});
  std::string t = to_text(r.get());
  CHECK(t.find("type=\"result\"") != std::string::npos);
  CHECK(t.find("from=\"push.example.org\"") != std::string::npos);
  CHECK(t.find("to=\"example.org\"") != std::string::npos);
  CHECK(t.find("id=\"id-7\"") != std::string::npos);
  CHECK(t.find("<error") == std::string::npos);
}

TEST_CASE("an error reply carries type, condition and text in the stanzas namespace") {
  auto r = xmpp::make_iq_reply(strophe_ctx(), "push.example.org", "example.org", "x1", {"cancel", "item-not-found"}, "gone");
  std::string t = to_text(r.get());
  CHECK(t.find("type=\"error\"") != std::string::npos);
  CHECK(t.find("<error type=\"cancel\"><item-not-found xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>") != std::string::npos);
  CHECK(t.find("<text xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\">gone</text>") != std::string::npos);
}

TEST_CASE("error text is XML-escaped") {
  auto r = xmpp::make_iq_reply(strophe_ctx(), "p", "s", "1", {"modify", "bad-request"}, "unknown app '<x>&'");
  std::string t = to_text(r.get());
  CHECK(t.find("&lt;x&gt;&amp;") != std::string::npos);
}

TEST_CASE("disco#info names a pubsub/push identity and the push feature") {
  auto r = xmpp::make_disco_info_result(strophe_ctx(), "push.example.org", "u@example.org/r", "d1");
  std::string t = to_text(r.get());
  CHECK(t.find("category=\"pubsub\"") != std::string::npos);
  CHECK(t.find("type=\"push\"") != std::string::npos);
  CHECK(t.find("var=\"urn:xmpp:push:0\"") != std::string::npos);
  CHECK(t.find("var=\"urn:xmpp:ping\"") != std::string::npos);
}
