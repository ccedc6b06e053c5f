// Tests for src/xmpp/adhoc.cpp: form values are bounded by what each field needs.
#include <doctest/doctest.h>

#include "test_stanza.hpp"
#include "xmpp/adhoc.hpp"

using namespace pushgate;

namespace {
std::variant<xmpp::AdhocCommand, std::string> parse(const std::string& var, const std::string& value) {
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
    auto ok = parse(c.var, std::string(c.limit, 'a'));
    REQUIRE(std::holds_alternative<xmpp::AdhocCommand>(ok));
    CHECK(std::get<xmpp::AdhocCommand>(ok).fields[c.var].size() == c.limit);
    auto refused = parse(c.var, std::string(c.limit + 1, 'a'));
    REQUIRE(std::holds_alternative<std::string>(refused));
    CHECK(std::get<std::string>(refused) ==
          "field '" + std::string(c.var) + "' is longer than " + std::to_string(c.limit) + " bytes");
  }
}
