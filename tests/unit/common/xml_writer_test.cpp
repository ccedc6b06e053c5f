// Tests for src/common/xml_writer.cpp: the one escaping writer of everything sent as XML.
#include <doctest/doctest.h>

#include "common/xml_writer.hpp"
#include "support/xml_check.hpp"

using namespace pushgate;

TEST_CASE("elements close as empty tags or with end tags, in order") {
  xml::Writer w;
  w.open("iq").attr("type", "result").open("query").attr("xmlns", "q").open("item").close().text("t");
  CHECK(w.finish() == "<iq type=\"result\"><query xmlns=\"q\"><item/>t</query></iq>");
}

TEST_CASE("attribute values and text cannot end the attribute or open an element") {
  for (std::string hostile : {"'/></iq><message to='victim@localhost'><body>hi</body></message><iq x='", "\"><", "'><",
                              "</iq>", "&amp;&", "]]>", "<![CDATA[x]]>", "<!-- -->", "<?pi?>"}) {
    xml::Writer w;
    w.open("iq").attr("id", hostile).attr("to", hostile).open("text").text(hostile);
    std::string out = w.finish();
    auto root = test::parse_single_element(out);
    CAPTURE(out);
    REQUIRE(root.ok);
    CHECK(root.name == "iq");
    CHECK(root.elements == 2);
    CHECK(root.attrs["id"] == hostile);
    CHECK(root.attrs["to"] == hostile);
  }
}

TEST_CASE("control characters are dropped and broken UTF-8 becomes U+FFFD") {
  CHECK(xml::escaped(std::string("a\x01\x08\x1f\tb\nc\r", 10)) == "a&#9;b&#10;c&#13;");
  CHECK(xml::escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e");
  CHECK(xml::escaped("\xff") == "\xEF\xBF\xBD");
  CHECK(xml::escaped("\xc3") == "\xEF\xBF\xBD");                                  // cut short
  CHECK(xml::escaped("\xc0\xbc") == "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '<'
  CHECK(xml::escaped("\xed\xa0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  CHECK(xml::escaped("\xef\xbf\xbf") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFF
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  xml::Writer w;
  w.open("x").attr("a", all).text(all);
  auto root = test::parse_single_element(w.finish());
  CHECK(root.ok);
  // Tab, LF and CR survive a parser's attribute-value normalization.
  CHECK(root.attrs["a"].substr(0, 3) == "\t\n\r");
}

TEST_CASE("a name from our tables is kept; anything else cannot become a name") {
  CHECK(std::string(xml::Name::ours("item-not-found").c_str()) == "item-not-found");
  CHECK(std::string(xml::Name::ours("a b").c_str()) == "invalid-name");
  CHECK(std::string(xml::Name::ours("x/><y").c_str()) == "invalid-name");
  CHECK(std::string(xml::Name::ours("").c_str()) == "invalid-name");
}

TEST_CASE("head() leaves a stream header open") {
  xml::Writer w;
  w.open("stream:stream").attr("xmlns:stream", "http://etherx.jabber.org/streams").attr("from", "a'b");
  CHECK(w.head() == "<stream:stream xmlns:stream=\"http://etherx.jabber.org/streams\" from=\"a&apos;b\">");
}
