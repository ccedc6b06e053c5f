// Tests for src/xmpp/server_check.cpp on the disco answers Debian 12's Prosody 0.12 and
// ejabberd 23.01 really gave (captured from a component and from a logged-in user).
#include <doctest/doctest.h>

#include "test_stanza.hpp"
#include "xmpp/server_check.hpp"

using namespace pushgate::xmpp;
using pushgate::test::stanza;

namespace {
// Prosody's own disco#info as the component sees it: neither feature, whatever is loaded.
const char* kProsodyHost =
    "<iq to='push.localhost' from='localhost' type='result' id='1'><query xmlns='http://jabber.org/protocol/disco#info'>"
    "<identity name='Prosody' category='server' type='im'/><feature var='jabber:iq:roster'/>"
    "<feature var='msgoffline'/><feature var='http://jabber.org/protocol/disco#info'/></query></iq>";
// alice's own disco#info with cloud_notify and cloud_notify_extensions loaded.
const char* kProsodyOwnFull =
    "<iq to='alice@localhost/r' id='2' type='result' from='alice@localhost'><query "
    "xmlns='http://jabber.org/protocol/disco#info'><identity category='account' type='registered'/>"
    "<feature var='urn:xmpp:push:0'/><feature var='tigase:push:filter:ignore-unknown:0'/>"
    "<feature var='tigase:push:priority:0'/><feature var='tigase:push:encrypt:0'/>"
    "<feature var='tigase:push:encrypt:aes-128-gcm'/><feature var='tigase:push:jingle:0'/></query></iq>";
const char* kEjabberdHost =
    "<iq to='push.localhost' from='localhost' type='result' id='3'><query xmlns='http://jabber.org/protocol/disco#info'>"
    "<identity name='ejabberd' type='im' category='server'/><feature var='http://jabber.org/protocol/disco#info'/>"
    "<feature var='msgoffline'/></query></iq>";
const char* kEjabberdOwn =
    "<iq to='alice@localhost/r' from='alice@localhost' type='result' id='4'><query "
    "xmlns='http://jabber.org/protocol/disco#info'><identity type='registered' category='account'/>"
    "<feature var='http://jabber.org/protocol/disco#info'/><feature var='urn:xmpp:push:0'/></query></iq>";

DiscoInfo info_of(const std::string& xml) {
  auto s = stanza(xml);
  REQUIRE(s != nullptr);
  auto info = read_disco_info(s.get());
  REQUIRE(info.has_value());
  return *info;
}

bool any_fix_mentions(const Finding& f, const std::string& text) {
  for (const auto& line : f.fix) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("the server's disco identity tells Prosody from ejabberd") {
  CHECK(server_kind(info_of(kProsodyHost)) == ServerKind::Prosody);
  CHECK(server_kind(info_of(kEjabberdHost)) == ServerKind::Ejabberd);
  CHECK(server_kind(info_of("<iq type='result' id='x'><query xmlns='http://jabber.org/protocol/disco#info'>"
                            "<identity category='server' type='im' name='Openfire'/></query></iq>")) == ServerKind::Unknown);
}

TEST_CASE("a renamed identity: jabber:iq:version still names the server") {
  DiscoInfo renamed = info_of("<iq type='result' id='v'><query xmlns='http://jabber.org/protocol/disco#info'>"
                              "<identity category='server' type='im' name='Example Chat'/></query></iq>");
  CHECK(server_kind(renamed) == ServerKind::Unknown);
  auto s = stanza("<iq type='result' id='v2' from='localhost'><query xmlns='jabber:iq:version'><name>Prosody</name>"
                  "<version>0.12.3</version><os>Linux</os></query></iq>");
  auto name = read_version_name(s.get());
  REQUIRE(name.has_value());
  CHECK(*name == "Prosody");
  CHECK(server_kind(*name) == ServerKind::Prosody);
  CHECK(server_kind("ejabberd") == ServerKind::Ejabberd);
  auto err = stanza("<iq type='error' id='v3'><query xmlns='jabber:iq:version'/><error type='cancel'>"
                    "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
  CHECK_FALSE(read_version_name(err.get()).has_value());
}

TEST_CASE("a user's own disco#info with push and the encrypted extension is OK twice") {
  auto own = info_of(kProsodyOwnFull);
  CHECK(own.account_identity);
  auto f = account_findings("localhost", ServerKind::Prosody, "alice@localhost", own);
  REQUIRE(f.size() == 2);
  CHECK(f[0].status == CheckStatus::Ok);
  CHECK(f[1].status == CheckStatus::Ok);
  CHECK(render(f[0]) == "xmpp localhost (Prosody): push (urn:xmpp:push:0): OK, on alice@localhost's own disco#info\n");
}

TEST_CASE("Prosody without cloud_notify: push MISSING, with the modules_enabled line that adds it") {
  auto own = info_of("<iq type='result' id='5'><query xmlns='http://jabber.org/protocol/disco#info'>"
                     "<identity category='account' type='registered'/></query></iq>");
  auto f = account_findings("localhost", ServerKind::Prosody, "alice@localhost", own);
  CHECK(f[0].status == CheckStatus::Missing);
  CHECK(is_failure(f[0].status));
  CHECK(any_fix_mentions(f[0], "\"cloud_notify\""));
  CHECK_FALSE(any_fix_mentions(f[0], "mod_push"));  // Prosody's fix only
  CHECK(f[1].status == CheckStatus::Missing);
}

TEST_CASE("Prosody with cloud_notify but not the extensions: only the encrypted extension is MISSING") {
  auto own = info_of("<iq type='result' id='6'><query xmlns='http://jabber.org/protocol/disco#info'>"
                     "<feature var='urn:xmpp:push:0'/></query></iq>");
  auto f = account_findings("localhost", ServerKind::Prosody, "alice@localhost", own);
  CHECK(f[0].status == CheckStatus::Ok);
  CHECK(f[1].status == CheckStatus::Missing);
  CHECK(any_fix_mentions(f[1], "\"cloud_notify_extensions\""));
  CHECK(any_fix_mentions(f[1], "lua-luaossl"));
}

TEST_CASE("ejabberd: mod_push is the fix, and the encrypted extension is UNAVAILABLE, not a failure") {
  auto none = info_of("<iq type='result' id='7'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
  auto f = account_findings("localhost", ServerKind::Ejabberd, "alice@localhost", none);
  CHECK(f[0].status == CheckStatus::Missing);
  CHECK(any_fix_mentions(f[0], "mod_push: {}"));
  CHECK_FALSE(any_fix_mentions(f[0], "cloud_notify"));
  auto g = account_findings("localhost", ServerKind::Ejabberd, "alice@localhost", info_of(kEjabberdOwn));
  CHECK(g[0].status == CheckStatus::Ok);
  CHECK(g[1].status == CheckStatus::Unavailable);
  CHECK_FALSE(is_failure(g[1].status));
}

TEST_CASE("an unknown server gets the fix for both Prosody and ejabberd") {
  auto none = info_of("<iq type='result' id='8'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
  auto f = account_findings("example.org", ServerKind::Unknown, "a@example.org", none);
  CHECK(any_fix_mentions(f[0], "\"cloud_notify\""));
  CHECK(any_fix_mentions(f[0], "mod_push: {}"));
}

TEST_CASE("without an account, what only the account shows is NOT CHECKED and says how to check it") {
  auto f = host_findings("localhost", ServerKind::Prosody, info_of(kProsodyHost));
  REQUIRE(f.size() == 2);
  for (const auto& one : f) {
    CHECK(one.status == CheckStatus::NotChecked);
    CHECK_FALSE(is_failure(one.status));
    CHECK(one.detail.find("[check] jid and password_file") != std::string::npos);
  }
  auto failed = host_findings("localhost", ServerKind::Prosody, info_of(kProsodyHost), true);
  CHECK(failed[0].detail.find("the [check] account did not log in") != std::string::npos);
  // A server that does show push on its own disco#info is believed.
  auto g = host_findings("x.org", ServerKind::Unknown,
                         info_of("<iq type='result' id='9'><query xmlns='http://jabber.org/protocol/disco#info'>"
                                 "<feature var='urn:xmpp:push:0'/></query></iq>"));
  CHECK(g[0].status == CheckStatus::Ok);
}

TEST_CASE("disco#items: the component listed is OK, absent is MISSING with Prosody's disco_items line") {
  auto s = stanza("<iq from='localhost' type='result' id='10'><query xmlns='http://jabber.org/protocol/disco#items'>"
                  "<item jid='other.localhost'/><item jid='push.localhost'/></query></iq>");
  auto items = read_disco_items(s.get());
  REQUIRE(items.has_value());
  CHECK(items_finding("localhost", ServerKind::Prosody, "push.localhost", *items).status == CheckStatus::Ok);
  auto missing = items_finding("localhost", ServerKind::Prosody, "push.elsewhere.net", *items);
  CHECK(missing.status == CheckStatus::Missing);
  CHECK(any_fix_mentions(missing, "disco_items = { { \"push.elsewhere.net\""));
}

TEST_CASE("an error answer is read as its condition and text, and is not a disco result") {
  auto s = stanza("<iq from='alice@localhost' type='error' id='11'><query xmlns='http://jabber.org/protocol/disco#info'/>"
                  "<error type='auth'><subscription-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                  "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Not subscribed</text></error></iq>");
  CHECK_FALSE(read_disco_info(s.get()).has_value());
  CHECK(read_iq_error(s.get()) == "subscription-required: Not subscribed");
}

TEST_CASE("server text is made terminal-safe and bounded") {
  CHECK(printable("ok\x1b[31mred\x07") == "ok?[31mred?");
  CHECK(printable("a\xc2\x9b" "b") == "a?b");      // C1 CSI
  CHECK(printable("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 kept
  CHECK(printable(std::string(500, 'x'), 10) == std::string(10, 'x') + "…");
  CHECK(printable("\xc3\xa9\xc3\xa9", 3) == "\xc3\xa9…");  // not cut inside a character
}

TEST_CASE("bidi and invisible format characters are replaced, other punctuation kept") {
  CHECK(printable("a\xe2\x80\xae" "b") == "a?b");  // U+202E right-to-left override
  CHECK(printable("a\xe2\x80\xaa" "b") == "a?b");  // U+202A
  CHECK(printable("a\xe2\x81\xa6" "b\xe2\x81\xa9") == "a?b?");  // U+2066, U+2069 isolates
  CHECK(printable("a\xe2\x80\x8b" "b\xe2\x80\x8f") == "a?b?");  // U+200B zero width, U+200F RLM
  CHECK(printable("a\xe2\x80\x94" "b") == "a\xe2\x80\x94" "b");  // U+2014 em dash kept
  CHECK(printable("a\xe2\x80\xaf" "b") == "a\xe2\x80\xaf" "b");  // U+202F narrow no-break space kept
  CHECK(printable("a\xe2\x81\xa5" "b") == "a\xe2\x81\xa5" "b");  // U+2065 (unassigned) kept
  CHECK(printable("a\xe2\x80") == "a\xe2\x80");                      // truncated sequence left alone
}

TEST_CASE("the test account's password may skip TLS only towards a loopback address") {
  CHECK(password_needs_tls("127.example.net"));
  CHECK(password_needs_tls("127.0.0.1.example.com"));
  CHECK(password_needs_tls("127.mycorp.net"));
  CHECK(password_needs_tls("xmpp.example.com"));
  CHECK(password_needs_tls(""));  // the JID's domain, resolved through DNS
  CHECK(password_needs_tls("localhost.example.com"));
  CHECK(password_needs_tls("128.0.0.1"));
  CHECK(password_needs_tls("::2"));
  CHECK(password_needs_tls("::ffff:10.0.0.1"));
  CHECK(password_needs_tls("0127.0.0.1"));  // not a dotted-quad inet_pton accepts
  CHECK_FALSE(password_needs_tls("localhost"));
  CHECK_FALSE(password_needs_tls("127.0.0.1"));
  CHECK_FALSE(password_needs_tls("127.5.6.7"));
  CHECK_FALSE(password_needs_tls("::1"));
  CHECK_FALSE(password_needs_tls("0:0:0:0:0:0:0:1"));
  CHECK_FALSE(password_needs_tls("::ffff:127.0.0.1"));
}

TEST_CASE("the component's parent domain is the domain it serves") {
  CHECK(parent_domain("push.example.com") == "example.com");
  CHECK(parent_domain("push.localhost") == "localhost");
  CHECK(parent_domain("localhost") == "");
}

TEST_CASE("at most kMaxDiscoEntries features are kept from one answer") {
  std::string xml = "<iq type='result' id='12'><query xmlns='http://jabber.org/protocol/disco#info'>";
  for (int i = 0; i < 1000; ++i) xml += "<feature var='f" + std::to_string(i) + "'/>";
  xml += "</query></iq>";
  CHECK(info_of(xml).features.size() == kMaxDiscoEntries);
}
