// Tests for src/legacy/backend_stream.cpp: PROXY headers, STARTTLS with Prosody, the
// SCRAM-*-PLUS filter.
#include "legacy/backend_stream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <doctest/doctest.h>

#include "relay_script.hpp"

using namespace pushgate::legacy;

namespace {
using relay_script::v4;
sockaddr_storage v6(const char* ip, int port) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET6, ip, &a->sin6_addr);
  return ss;
}
const std::string kFeatures =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1-PLUS</mechanism>"
    "<mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>PLAIN</mechanism>"
    "</mechanisms></stream:features>";
const std::string kFiltered =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism>"
    "<mechanism>PLAIN</mechanism></mechanisms></stream:features>";
}  // namespace

TEST_CASE("PROXY v1 and v2 headers carry the client's and our address") {
  CHECK(proxy_header(1, v4("203.0.113.7", 40000), v4("192.0.2.1", 5222)) ==
        "PROXY TCP4 203.0.113.7 192.0.2.1 40000 5222\r\n");
  CHECK(proxy_header(1, v6("2001:db8::7", 40000), v6("2001:db8::1", 5222)) ==
        "PROXY TCP6 2001:db8::7 2001:db8::1 40000 5222\r\n");
  std::string v2 = proxy_header(2, v4("203.0.113.7", 40000), v4("192.0.2.1", 5222));
  REQUIRE(v2.size() == 16 + 12);
  CHECK(v2.substr(0, 12) == std::string("\r\n\r\n\0\r\nQUIT\n", 12));
  CHECK(static_cast<unsigned char>(v2[12]) == 0x21);  // version 2, PROXY
  CHECK(static_cast<unsigned char>(v2[13]) == 0x11);  // TCP over IPv4
  CHECK(static_cast<unsigned char>(v2[15]) == 12);
  CHECK(static_cast<unsigned char>(v2[16]) == 203);
  CHECK(static_cast<unsigned char>(v2[24]) == (40000 >> 8));
  CHECK(proxy_header(2, v6("2001:db8::7", 1), v6("2001:db8::1", 2)).size() == 16 + 36);
  CHECK(proxy_header(1, v4("203.0.113.7", 1), v6("2001:db8::1", 2)).empty());
}

TEST_CASE("STARTTLS with Prosody: features, then <starttls/>, then proceed; refusals are errors") {
  BackendStarttls b;
  CHECK(b.feed("<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='x' from='localhost'>") ==
        BackendStarttls::Step::NeedMore);
  CHECK(b.feed("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:fea") ==
        BackendStarttls::Step::NeedMore);
  CHECK(b.feed("tures>") == BackendStarttls::Step::SendStarttls);
  CHECK(b.feed("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>") == BackendStarttls::Step::StartTls);
  BackendStarttls none;
  CHECK(none.feed("<stream:stream><stream:features><mechanisms/></stream:features>") == BackendStarttls::Step::Error);
  CHECK(none.error().find("offers no STARTTLS") != std::string::npos);
  BackendStarttls refused;
  CHECK(refused.feed("<stream:stream><stream:error><host-unknown/></stream:error>") == BackendStarttls::Step::Error);
}

TEST_CASE("SCRAM-*-PLUS leaves the first features, split anywhere; the rest passes untouched") {
  std::string head = "<?xml version='1.0'?><stream:stream id='1'>";
  std::string after = "<iq type='result'/>";
  std::string all = head + kFeatures + after + kFeatures;
  for (std::size_t i = 0; i <= all.size(); i += 7) {
    CAPTURE(i);
    FeaturesFilter f;
    std::string out = f.feed(all.substr(0, i));
    out += f.feed(all.substr(i));
    CHECK(out == head + kFiltered + after + kFeatures);  // only the first features change
  }
}

TEST_CASE("features filter: a stream that ends before its features gives back what it held, unchanged") {
  FeaturesFilter f;
  CHECK(f.feed("<stream:stream><stream:error><host-unknown/>").empty());
  CHECK(f.finish() == "<stream:stream><stream:error><host-unknown/>");
  CHECK(f.done());
  CHECK(f.feed("</stream:stream>") == "</stream:stream>");
}

TEST_CASE("features filter: empty features end the wait at once") {
  FeaturesFilter f;
  CHECK(f.feed("<stream:stream>").empty());
  CHECK(f.feed("<stream:features/><iq/>") == "<stream:stream><stream:features/><iq/>");
  CHECK(f.done());
}
