// Tests for src/xmpp/publish_parser.cpp on the stanza Prosody really sends and its variants.
#include <doctest/doctest.h>

#include "test_stanza.hpp"
#include "xmpp/publish_parser.hpp"

using namespace pushgate;
using pushgate::test::stanza;

namespace {
PushRequest parse_ok(const std::string& xml) {
  auto s = stanza(xml);
  REQUIRE(s != nullptr);
  auto r = xmpp::parse_publish(s.get());
  if (!r) FAIL("unexpected parse error: " << r.error().message());
  return std::move(r).value();
}
// The whole text the bad-request carries: the cause, and the fix when there is one.
std::string parse_err(const std::string& xml) {
  auto s = stanza(xml);
  REQUIRE(s != nullptr);
  auto r = xmpp::parse_publish(s.get());
  REQUIRE_FALSE(r.ok());
  return r.error().message();
}
std::string publish(const std::string& notification_inner, const std::string& options) {
  return "<iq from='example.org' to='push.example.org' id='p1' type='set'>"
         "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='TOK'><item>"
         "<notification xmlns='urn:xmpp:push:0'>" + notification_inner + "</notification></item></publish>" +
         options + "</pubsub></iq>";
}
const std::string kOptions =
    "<publish-options><x xmlns='jabber:x:data' type='submit'>"
    "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
    "<field var='secret'><value>S3</value></field></x></publish-options>";
}  // namespace

TEST_CASE("the captured Prosody 0.12 publish parses into node, summary and options") {
  auto s = stanza(pushgate::test::read_data("prosody_publish.xml"));
  REQUIRE(s != nullptr);
  CHECK(xmpp::is_publish(s.get()));
  auto r = xmpp::parse_publish(s.get());
  REQUIRE(r.ok());
  const PushRequest& req = r.value();
  CHECK(req.node == "DEVTOKEN123");
  CHECK(req.sender_domain == "localhost");
  CHECK(req.summary.at("message-count") == "1");
  CHECK(req.summary.at("last-message-body") == "New Message!");
  CHECK(req.summary.count("last-message-sender") == 0);  // empty fields are dropped
  CHECK(req.summary.count("FORM_TYPE") == 0);
  CHECK(req.options.at("secret") == "SHARED");
  CHECK(req.options.at("type") == "voip");
  CHECK(req.options.count("FORM_TYPE") == 0);
  CHECK(req.important());
  CHECK_FALSE(req.priority.has_value());
  CHECK_FALSE(req.encrypted.has_value());
}

TEST_CASE("a publish without publish-options parses with no options") {
  auto req = parse_ok(publish("<x xmlns='jabber:x:data'><field var='message-count'><value>3</value></field></x>", ""));
  CHECK(req.options.empty());
  CHECK(req.summary.at("message-count") == "3");
  CHECK_FALSE(req.important());
}

TEST_CASE("unknown publish-options fields are kept and never rejected") {
  auto req = parse_ok(publish("", "<publish-options><x xmlns='jabber:x:data'>"
                                  "<field var='secret'><value>S</value></field>"
                                  "<field var='x-vendor-thing'><value>42</value></field>"
                                  "<field var='pushModule'><value>ios</value></field>"
                                  "<field var='empty'/></x></publish-options>"));
  CHECK(req.options.at("x-vendor-thing") == "42");
  CHECK(req.options.at("pushModule") == "ios");
  CHECK(req.options.at("empty").empty());
}

TEST_CASE("namespace prefixes are resolved, not matched by name") {
  auto req = parse_ok(
      "<iq from='example.org' to='push' id='p2' type='set'>"
      "<ps:pubsub xmlns:ps='http://jabber.org/protocol/pubsub'><ps:publish node='N1'><ps:item>"
      "<p:notification xmlns:p='urn:xmpp:push:0'><d:x xmlns:d='jabber:x:data'>"
      "<d:field var='message-count'><d:value>1</d:value></d:field></d:x></p:notification>"
      "</ps:item></ps:publish></ps:pubsub></iq>");
  CHECK(req.node == "N1");
  CHECK(req.summary.at("message-count") == "1");
}

TEST_CASE("a pubsub element in the wrong namespace is a bad request") {
  auto s = stanza("<iq from='a' id='1' type='set'><pubsub xmlns='urn:other'><publish node='N'/></pubsub></iq>");
  CHECK_FALSE(xmpp::is_publish(s.get()));
  CHECK(parse_err("<iq from='a' id='1' type='set'><pubsub xmlns='urn:other'><publish node='N'/></pubsub></iq>")
            .find("pubsub") != std::string::npos);
}

TEST_CASE("extra whitespace around values and between elements is ignored") {
  auto req = parse_ok(publish("\n  <x xmlns='jabber:x:data'>\n   <field var='message-count'>\n <value>  2 \n</value></field>\n</x>\n",
                              "\n<publish-options>\n<x xmlns='jabber:x:data'>\n<field var='type'><value>\n call \n</value></field></x></publish-options>\n"));
  CHECK(req.summary.at("message-count") == "2");
  CHECK(req.options.at("type") == "call");
}

TEST_CASE("tigase priority and encrypted payload are passed through untouched") {
  auto req = parse_ok(publish(
      "<priority xmlns='tigase:push:priority:0'>high</priority>"
      "<encrypted xmlns='tigase:push:encrypt:0' iv='aXY=' type='voip'>Q0lQSEVSVEVYVA==\n</encrypted>",
      kOptions));
  REQUIRE(req.priority.has_value());
  CHECK(*req.priority == "high");
  REQUIRE(req.encrypted.has_value());
  CHECK(req.encrypted->attributes.at("iv") == "aXY=");
  CHECK(req.encrypted->attributes.at("type") == "voip");
  CHECK(req.encrypted->attributes.count("xmlns") == 0);
  CHECK(req.encrypted->content == "Q0lQSEVSVEVYVA==\n");
  CHECK(req.important());
}

TEST_CASE("malformed publishes are refused with a reason") {
  CHECK(parse_err("<iq id='1' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='N'/></pubsub></iq>")
            .find("from") != std::string::npos);
  CHECK(parse_err("<iq from='a' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='N'/></pubsub></iq>")
            .find("id") != std::string::npos);
  CHECK(parse_err("<iq from='a' id='1' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'/></iq>")
            .find("publish") != std::string::npos);
  CHECK(parse_err("<iq from='a' id='1' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish><item/></publish></pubsub></iq>")
            .find("node") != std::string::npos);
  CHECK(parse_err("<iq from='a' id='1' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node=''><item/></publish></pubsub></iq>")
            .find("node") != std::string::npos);
  CHECK(parse_err("<iq from='a' id='1' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='N'/></pubsub></iq>")
            .find("item") != std::string::npos);
  CHECK(parse_err("<iq from='a' id='1' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='N'><item><notification xmlns='urn:wrong'/></item></publish></pubsub></iq>")
            .find("notification") != std::string::npos);
  CHECK(parse_err("<message from='a' id='1'/>") == "not an iq");
}

TEST_CASE("an oversized node or publish is a bad request, not a copy") {
  std::string long_node(xmpp::kMaxNodeBytes + 1, 'a');
  CHECK(parse_err("<iq from='a' id='1' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='" +
                  long_node + "'><item/></publish></pubsub></iq>")
            .find("1024") != std::string::npos);
  std::string big(xmpp::kMaxPublishBytes, 'b');
  std::string too_big = parse_err(
      publish("<x xmlns='jabber:x:data'><field var='last-message-body'><value>" + big + "</value></field></x>", ""));
  CHECK(too_big.find("64 KiB") != std::string::npos);
  CHECK(too_big.find("push_notification_with_body") != std::string::npos);  // the fix for Prosody's operator
  std::string many;
  for (int i = 0; i < 100; ++i) many += "<field var='f" + std::to_string(i) + "'><value>v</value></field>";
  CHECK(parse_err(publish("", "<publish-options><x xmlns='jabber:x:data'>" + many + "</x></publish-options>"))
            .find("fields") != std::string::npos);
}

TEST_CASE("a secret never appears in a parse error") {
  std::string xml = "<iq from='a' id='1' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='N'/>"
                    "<publish-options><x xmlns='jabber:x:data'><field var='secret'><value>TOPSECRET</value></field></x>"
                    "</publish-options></pubsub></iq>";
  CHECK(parse_err(xml).find("TOPSECRET") == std::string::npos);
}

TEST_CASE("only a type=set pubsub publish counts as a publish") {
  CHECK_FALSE(xmpp::is_publish(stanza("<iq type='get' from='a' id='1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='N'/></pubsub></iq>").get()));
  CHECK_FALSE(xmpp::is_publish(stanza("<iq type='set' from='a' id='1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='N'/></pubsub></iq>").get()));
  CHECK_FALSE(xmpp::is_publish(stanza("<iq from='a' id='1'/>").get()));
}
