// Tests for src/xmpp/stanza.cpp: the replies pushgate sends to Prosody.
#include <doctest/doctest.h>

#include "test_stanza.hpp"

using namespace pushgate;
using pushgate::test::strophe_ctx;
using pushgate::test::to_text;

TEST_CASE("a result reply goes from the component to the IQ's sender with the same id") {
  std::string t = xmpp::iq_reply_xml("push.example.org", "example.org", "id-7", {"", ""});
  auto parsed = pushgate::test::stanza(t);
  REQUIRE(parsed != nullptr);
  CHECK(std::string(xmpp_stanza_get_type(parsed.get())) == "result");
  CHECK(std::string(xmpp_stanza_get_id(parsed.get())) == "id-7");
  CHECK(t.find("type=\"result\"") != std::string::npos);
  CHECK(t.find("from=\"push.example.org\"") != std::string::npos);
  CHECK(t.find("to=\"example.org\"") != std::string::npos);
  CHECK(t.find("id=\"id-7\"") != std::string::npos);
  CHECK(t.find("<error") == std::string::npos);
}

TEST_CASE("an error reply carries type, condition and text in the stanzas namespace") {
  std::string t = xmpp::iq_reply_xml("push.example.org", "example.org", "x1", {"cancel", "item-not-found"}, "gone");
  auto parsed = pushgate::test::stanza(t);
  REQUIRE(parsed != nullptr);
  xmpp_stanza_t* err = xmpp_stanza_get_child_by_name(parsed.get(), "error");
  REQUIRE(err != nullptr);
  CHECK(std::string(xmpp_stanza_get_type(err)) == "cancel");
  CHECK(xmpp_stanza_get_child_by_name_and_ns(err, "item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas") != nullptr);
  CHECK(t.find("type=\"error\"") != std::string::npos);
  CHECK(t.find("<error type=\"cancel\"><item-not-found xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>") != std::string::npos);
  CHECK(t.find("<text xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\">gone</text>") != std::string::npos);
}

TEST_CASE("error text is XML-escaped") {
  std::string t = xmpp::iq_reply_xml("p", "s", "1\"'<>", {"modify", "bad-request"}, "unknown app '<x>&'\x01");
  CHECK(t.find("&lt;x&gt;&amp;") != std::string::npos);
  auto parsed = pushgate::test::stanza(t);
  REQUIRE(parsed != nullptr);  // still well-formed XML
  CHECK(std::string(xmpp_stanza_get_id(parsed.get())) == "1\"'<>");
}

TEST_CASE("disco#info names a pubsub/push identity and the push feature") {
  std::string t = xmpp::disco_info_result_xml("push.example.org", "u@example.org/r", "d1");
  REQUIRE(pushgate::test::stanza(t) != nullptr);
  CHECK(t.find("category=\"pubsub\"") != std::string::npos);
  CHECK(t.find("type=\"push\"") != std::string::npos);
  CHECK(t.find("var=\"urn:xmpp:push:0\"") != std::string::npos);
  CHECK(t.find("var=\"urn:xmpp:ping\"") != std::string::npos);
  CHECK(t.find("tigase:messenger") == std::string::npos);
  std::string with = xmpp::disco_info_result_xml("push.example.org", "u@example.org/r", "d2", {"tigase:messenger:apns:1"});
  CHECK(with.find("var=\"tigase:messenger:apns:1\"") != std::string::npos);
}

TEST_CASE("a result with a payload is well-formed and carries it") {
  xml::Writer w = xmpp::iq_result("push.example.org", "u@example.org/r", "i\"1");
  w.open("query").attr("xmlns", "http://jabber.org/protocol/disco#items");
  std::string t = w.finish();
  auto parsed = pushgate::test::stanza(t);
  REQUIRE(parsed != nullptr);
  CHECK(std::string(xmpp_stanza_get_type(parsed.get())) == "result");
  CHECK(std::string(xmpp_stanza_get_id(parsed.get())) == "i\"1");
  CHECK(xmpp_stanza_get_child_by_name_and_ns(parsed.get(), "query", "http://jabber.org/protocol/disco#items") != nullptr);
}

TEST_CASE("the self-ping is an iq get with a ping child") {
  auto parsed = pushgate::test::stanza(xmpp::ping_xml("push.example.org", "push.example.org", "pg-ping-1"));
  REQUIRE(parsed != nullptr);
  CHECK(std::string(xmpp_stanza_get_type(parsed.get())) == "get");
  CHECK(xmpp_stanza_get_child_by_name_and_ns(parsed.get(), "ping", "urn:xmpp:ping") != nullptr);
}
