// Tests for src/legacy/starttls_preamble.cpp: what old clients send before TLS.
#include "legacy/starttls_preamble.hpp"

#include <doctest/doctest.h>

using namespace pushgate::legacy;
using Step = StarttlsPreamble::Step;

namespace {
const std::string kHeader =
    "<?xml version='1.0'?><stream:stream to='Example.org' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
const std::string kStarttls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
const std::string kHello = std::string("\x16\x03\x01\x00\x05", 5);

// Feeds `chunks` in order as a listener would; returns the final step and, on Proceed, every
// byte that belongs to TLS (the parser's leftover plus what came after).
struct Run {
  Step step = Step::NeedMore;
  bool header = false;
  std::string tls_bytes, condition, domain;
};
Run run(const std::vector<std::string>& chunks, std::vector<std::string> domains = {}) {
  StarttlsPreamble p(std::move(domains));
  Run r;
  for (const auto& c : chunks) {
    if (r.step == Step::Proceed) {
      r.tls_bytes += c;
      continue;
    }
    Step s = p.feed(c);
    if (s == Step::StreamHeader) {
      r.header = true;
      s = p.feed("");
    }
    r.step = s;
    if (s == Step::Proceed) r.tls_bytes = p.leftover();
    if (s == Step::Error) break;
  }
  r.condition = p.condition();
  r.domain = p.domain();
  return r;
}
std::string condition_of(const std::string& input, std::vector<std::string> domains = {}) {
  Run r = run({input}, std::move(domains));
  CHECK(r.step == Step::Error);
  return r.condition;
}
}  // namespace

TEST_CASE("a client's stream header, then STARTTLS, then the ClientHello that follows") {
  Run r = run({kHeader, kStarttls + kHello});
  CHECK(r.header);
  CHECK(r.step == Step::Proceed);
  CHECK(r.domain == "example.org");
  CHECK(r.tls_bytes == kHello);
}

TEST_CASE("input split at every byte boundary gives the same result") {
  std::string all = kHeader + kStarttls + kHello;
  for (std::size_t i = 0; i <= all.size(); ++i) {
    CAPTURE(i);
    Run r = run({all.substr(0, i), all.substr(i)});
    CHECK(r.header);
    CHECK(r.step == Step::Proceed);
    CHECK(r.tls_bytes == kHello);
  }
  std::vector<std::string> bytes;
  for (char c : all) bytes.emplace_back(1, c);
  Run r = run(bytes);
  CHECK(r.step == Step::Proceed);
  CHECK(r.tls_bytes == kHello);
}

TEST_CASE("stream prefix variants: stream:, another prefix, with and without the XML declaration") {
  for (const std::string& header :
       {kHeader,
        std::string("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' "
                    "to='example.org' version='1.0'>"),
        std::string("<x:stream xmlns:x='http://etherx.jabber.org/streams' xmlns='jabber:client' to='example.org' "
                    "version='1.0'>"),
        std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<q:stream xmlns=\"jabber:client\" "
                    "xmlns:q=\"http://etherx.jabber.org/streams\" version=\"1.0\" to=\"example.org\">\n")}) {
    CAPTURE(header);
    Run r = run({header, "  " + kStarttls});
    CHECK(r.step == Step::Proceed);
    CHECK(r.domain == "example.org");
  }
  CHECK(run({kHeader, "<tls:starttls xmlns:tls='urn:ietf:params:xml:ns:xmpp-tls'></tls:starttls>"}).step ==
        Step::Proceed);
}

TEST_CASE("restricted XML: DOCTYPE, comments and processing instructions") {
  CHECK(condition_of("<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY a 'b'>]>" + kHeader.substr(21)) ==
        std::string("restricted-xml"));
  CHECK(condition_of(kHeader + "<!-- hello -->") == std::string("restricted-xml"));
  CHECK(condition_of(kHeader + "<?php echo 1; ?>") == std::string("restricted-xml"));
}

TEST_CASE("namespaces, version and host are checked") {
  CHECK(condition_of("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
                     "to='example.org' version='1.0'>") == std::string("invalid-namespace"));
  CHECK(condition_of("<stream:stream xmlns='jabber:client' xmlns:stream='http://example.com/streams' "
                     "to='example.org' version='1.0'>") == std::string("invalid-namespace"));
  CHECK(condition_of("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                     "to='example.org'>") == std::string("unsupported-version"));
  CHECK(condition_of("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                     "to='example.org' version='2.0'>") == std::string("unsupported-version"));
  CHECK(condition_of(kHeader, {"other.org"}) == std::string("host-unknown"));
  CHECK(run({kHeader, kStarttls}, {"other.org", "EXAMPLE.org"}).step == Step::Proceed);
  CHECK(condition_of("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                     "version='1.0'>") == std::string("host-unknown"));
  Run one = run({"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
                 kStarttls},
                {"only.example"});
  CHECK(one.step == Step::Proceed);
  CHECK(one.domain == "only.example");
}

TEST_CASE("anything but STARTTLS, garbage and oversize input are refused") {
  CHECK(condition_of(kHeader + "<message to='a@b'><body>x</body></message>") == std::string("policy-violation"));
  CHECK(condition_of(kHeader + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>") ==
        std::string("policy-violation"));
  CHECK(condition_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == std::string("not-well-formed"));
  CHECK(condition_of(kHeader + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'></wrong>") ==
        std::string("not-well-formed"));
  StarttlsPreamble p({}, 512);
  CHECK(p.feed(kHeader) == Step::StreamHeader);
  CHECK(p.feed("") == Step::NeedMore);
  CHECK(p.feed(std::string(400, ' ')) == Step::Error);
  CHECK(std::string(p.condition()) == "policy-violation");
  Run closed = run({kHeader, "</stream:stream>"});
  CHECK(closed.step == Step::Error);
  CHECK(closed.condition.empty());  // a clean close, not an error to report
}
