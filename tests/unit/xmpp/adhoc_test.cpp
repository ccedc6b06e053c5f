// Tests for src/xmpp/adhoc.cpp: the commands' first step (parse, sessionid, cancel) and the
// replies, against hostile attribute values.
#include <doctest/doctest.h>


#include "support/xml_check.hpp"
#include "test_stanza.hpp"
#include "xmpp/adhoc.hpp"

using namespace pushgate;

namespace {
std::string command_iq(const std::string& node, const std::string& action, const std::string& sessionid) {
  std::string xml =
      "<iq type='set' id='c1'><command xmlns='http://jabber.org/protocol/commands' node='" + xml::escaped(node) + "'";
  if (!action.empty()) xml += " action='" + xml::escaped(action) + "'";
  if (!sessionid.empty()) xml += " sessionid='" + xml::escaped(sessionid) + "'";
  return xml + "/></iq>";
}

xmpp::AdhocStep first_step(const std::string& iq_text, xmpp::AdhocSessions& sessions, const std::string& from) {
  auto iq = test::stanza(iq_text);
  REQUIRE(iq != nullptr);
  xmpp_stanza_t* command = xmpp_stanza_get_child_by_name(iq.get(), "command");
  REQUIRE(command != nullptr);
  return xmpp::adhoc_first_step(command, "push.localhost", from, "c1", sessions);
}
}  // namespace

TEST_CASE("cancel with an injected sessionid is refused and the reply is one iq to the requester") {
  const std::string from = "mallory@localhost/r";
  xmpp::AdhocSessions sessions;
  for (std::string payload :
       {"'/></iq><message to='bob@localhost' from='push.localhost'><body>x</body></message><iq a='", "'><", "\"><",
        "x' status='completed"}) {
    for (std::string action : {"cancel", "execute", ""}) {
      auto step = first_step(command_iq("register-push-fcm", action, payload), sessions, from);
      CAPTURE(payload);
      REQUIRE(!step.reply.empty());
      auto root = test::parse_single_element(step.reply);
      REQUIRE(root.ok);
      CHECK(root.name == "iq");
      CHECK(root.attrs["to"] == from);
      CHECK(root.attrs["type"] == "error");
      CHECK(step.reply.find("message") == std::string::npos);
      CHECK(step.reply.find("unknown sessionid") != std::string::npos);
    }
  }
}

TEST_CASE("an injected node is an unknown command, answered without echoing it") {
  xmpp::AdhocSessions sessions;
  auto step =
      first_step(command_iq("'/></iq><message to='bob@localhost'/><iq x='", "cancel", ""), sessions, "m@localhost/r");
  auto root = test::parse_single_element(step.reply);
  REQUIRE(root.ok);
  CHECK(root.attrs["type"] == "error");
  CHECK(step.reply.find("bob@localhost") == std::string::npos);
  CHECK(step.reply.find("unknown command") != std::string::npos);
  CHECK(step.reply.find("disco#items") != std::string::npos);  // where the client finds the right ones
}

TEST_CASE("a command without a sessionid gets one of ours; cancel of an issued session is answered canceled") {
  xmpp::AdhocSessions sessions;
  auto step = first_step(command_iq("register-push-apns", "execute", ""), sessions, "u@localhost/r");
  CHECK(step.reply.empty());
  CHECK(step.command.sessionid.size() == 16);
  CHECK(sessions.issued(step.command.sessionid));
  auto cancel =
      first_step(command_iq("register-push-apns", "cancel", step.command.sessionid), sessions, "u@localhost/r");
  auto root = test::parse_single_element(cancel.reply);
  REQUIRE(root.ok);
  CHECK(root.attrs["type"] == "result");
  CHECK(cancel.reply.find("status=\"canceled\"") != std::string::npos);
  CHECK(cancel.reply.find("sessionid=\"" + step.command.sessionid + "\"") != std::string::npos);
}

TEST_CASE("sessions remember a bounded number of ids") {
  xmpp::AdhocSessions sessions;
  std::string first = sessions.mint();
  for (std::size_t i = 0; i < xmpp::AdhocSessions::kRemembered; ++i) sessions.mint();
  CHECK_FALSE(sessions.issued(first));
}

TEST_CASE("completed and items replies escape every value and stay one iq") {
  std::string hostile = "'/></iq><message to='bob@localhost'/>";
  std::string done = xmpp::adhoc_completed_xml("push.localhost", hostile, hostile, "register-push-fcm",
                                               "0123456789abcdef", {{"node", hostile}, {"secret", hostile}});
  auto root = test::parse_single_element(done);
  REQUIRE(root.ok);
  CHECK(root.attrs["to"] == hostile);
  CHECK(root.attrs["id"] == hostile);
  auto items = test::parse_single_element(xmpp::adhoc_items_xml("push.localhost", "u@localhost/r", "i1"));
  REQUIRE(items.ok);
  CHECK(items.elements == 2 + static_cast<int>(xmpp::adhoc_command_nodes().size()));
}

TEST_CASE("register-device's result: node, features as list-multi and max-payload-size") {
  std::vector<xmpp::ResultField> form = {
      {"node", {"n0de"}},
      {"features", {"tigase:push:encrypt:0", "tigase:push:encrypt:aes-128-gcm"}, true},
      {"max-payload-size", {"3000"}}};
  std::string done = xmpp::adhoc_completed_xml("push.localhost", "alice@localhost/r", "c1", "register-device",
                                               "0123456789abcdef", form);
  auto iq = test::stanza(done);
  REQUIRE(iq != nullptr);
  xmpp_stanza_t* command = xmpp_stanza_get_child_by_name(iq.get(), "command");
  REQUIRE(command != nullptr);
  CHECK(xmpp::attr(command, "status") == "completed");
  xmpp_stanza_t* x = xmpp_stanza_get_child_by_name(command, "x");
  REQUIRE(x != nullptr);
  CHECK(xmpp::attr(x, "type") == "result");
  std::vector<std::string> vars;
  for (xmpp_stanza_t* f = xmpp_stanza_get_children(x); f != nullptr; f = xmpp_stanza_get_next(f)) {
    std::string var = xmpp::attr(f, "var");
    vars.push_back(var);
    std::vector<std::string> values;
    for (xmpp_stanza_t* v = xmpp_stanza_get_children(f); v != nullptr; v = xmpp_stanza_get_next(v)) {
      values.push_back(xmpp::text_of(v));
    }
    if (var == "features") {
      CHECK(xmpp::attr(f, "type") == "list-multi");
      CHECK(values == std::vector<std::string>{"tigase:push:encrypt:0", "tigase:push:encrypt:aes-128-gcm"});
    } else {
      CHECK(xmpp::attr(f, "type").empty());
      CHECK(values.size() == 1);
    }
  }
  CHECK(vars == std::vector<std::string>{"node", "features", "max-payload-size"});
  // Values in a list-multi are escaped like any other.
  std::string hostile = "'/></value></field><field var='secret'><value>x";
  auto root = test::parse_single_element(
      xmpp::adhoc_completed_xml("push.localhost", "alice@localhost/r", "c1", "register-device", "0123456789abcdef",
                                std::vector<xmpp::ResultField>{{"features", {hostile, hostile}, true}}));
  REQUIRE(root.ok);
  CHECK(root.elements == 6);  // iq, command, x, field, value, value
}

namespace {
pushgate::Result<xmpp::AdhocCommand> parse_field(const std::string& var, const std::string& value) {
  auto s = test::stanza(
      "<command xmlns='http://jabber.org/protocol/commands' node='register-push-apns'>"
      "<x xmlns='jabber:x:data' type='submit'><field var='" +
      var + "'><value>" + value + "</value></field></x></command>");
  return xmpp::parse_adhoc_command(s.get());
}
}  // namespace

TEST_CASE("each form field is bounded by what it needs, and the refusal names the field and the limit") {
  struct Case {
    const char* var;
    std::size_t limit;
  };
  for (Case c : {Case{"token", 1024}, Case{"device-token", 1024}, Case{"device-second-token", 1024}, Case{"muc", 3071},
                 Case{"device-id", 256}, Case{"android-id", 256}, Case{"app", 64}, Case{"provider", 64},
                 Case{"unknown-field", 256}}) {
    CAPTURE(c.var);
    auto ok = parse_field(c.var, std::string(c.limit, 'a'));
    REQUIRE(ok.ok());
    CHECK(ok->fields[c.var].size() == c.limit);
    auto refused = parse_field(c.var, std::string(c.limit + 1, 'a'));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message() ==
          "field '" + std::string(c.var) + "' is longer than " + std::to_string(c.limit) + " bytes");
  }
}
