// Tests for src/xmpp/stanza_pool.cpp: the allocator behind libstrophe's context.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "xmpp/stanza_pool.hpp"

using namespace pushgate;

TEST_CASE("pooled blocks keep their contents across realloc, small and large") {
  const xmpp_mem_t* mem = xmpp::pooled_memory();
  for (std::size_t size : {1u, 16u, 17u, 100u, 4096u, 5000u, 100000u}) {
    auto* p = static_cast<char*>(mem->alloc(size, nullptr));
    REQUIRE(p != nullptr);
    std::memset(p, 'x', size);
    auto* q = static_cast<char*>(mem->realloc(p, size * 2 + 1, nullptr));
    REQUIRE(q != nullptr);
    CHECK(std::string(q, size) == std::string(size, 'x'));
    auto* r = static_cast<char*>(mem->realloc(q, size / 2 + 1, nullptr));
    CHECK(std::string(r, size / 2 + 1) == std::string(size / 2 + 1, 'x'));
    mem->free(r, nullptr);
  }
}

TEST_CASE("freed blocks are reused, and pooled_calloc zero-fills a recycled block") {
  const xmpp_mem_t* mem = xmpp::pooled_memory();
  void* a = mem->alloc(200, nullptr);
  std::memset(a, 0xAB, 200);
  mem->free(a, nullptr);
  void* b = xmpp::pooled_calloc(200);
  CHECK(b == a);  // same size class, last freed first
  auto* bytes = static_cast<unsigned char*>(b);
  bool zero = true;
  for (int i = 0; i < 200; ++i) zero = zero && bytes[i] == 0;
  CHECK(zero);
  mem->free(b, nullptr);
  mem->free(nullptr, nullptr);  // like free(NULL)
}

TEST_CASE("a libstrophe context runs on the pool") {
  xmpp_initialize();
  xmpp_ctx_t* ctx = xmpp_ctx_new(xmpp::pooled_memory(), nullptr);
  REQUIRE(ctx != nullptr);
  for (int i = 0; i < 100; ++i) {
    xmpp_stanza_t* s = xmpp_stanza_new_from_string(ctx, "<iq type='set' id='1'><a xmlns='urn:x'><b c='d'>text</b></a></iq>");
    REQUIRE(s != nullptr);
    char* buf = nullptr;
    size_t len = 0;
    REQUIRE(xmpp_stanza_to_text(s, &buf, &len) == 0);
    CHECK(std::string(buf, len).find("<b c=\"d\">text</b>") != std::string::npos);
    xmpp_free(ctx, buf);
    xmpp_stanza_release(s);
  }
  xmpp_ctx_free(ctx);
}

TEST_CASE("inside SkipReceivedStanzaText only xmpp_stanza_to_text's buffer is declined") {
  REQUIRE(xmpp::can_skip_received_stanza_text());
  xmpp_initialize();
  xmpp_ctx_t* ctx = xmpp_ctx_new(xmpp::pooled_memory(), nullptr);
  std::string long_text(1023, 'y');  // its copy is exactly a 1 KiB allocation too
  std::string xml = "<iq type='set' id='" + std::string(1023, 'i') + "'><b>" + long_text + "</b></iq>";
  char* buf = nullptr;
  size_t len = 0;
  {
    xmpp::SkipReceivedStanzaText skip;
    xmpp_stanza_t* s = xmpp_stanza_new_from_string(ctx, xml.c_str());
    REQUIRE(s != nullptr);
    CHECK(std::string(xmpp_stanza_get_id(s)) == std::string(1023, 'i'));
    char* text = xmpp_stanza_get_text(xmpp_stanza_get_child_by_name(s, "b"));
    CHECK(std::string(text) == long_text);
    xmpp_free(ctx, text);
    CHECK(xmpp_stanza_to_text(s, &buf, &len) == XMPP_EMEM);  // the debug rendering is skipped
    {
      xmpp::AllowStanzaText allow;  // a handler sending a stanza renders as usual
      REQUIRE(xmpp_stanza_to_text(s, &buf, &len) == XMPP_EOK);
      CHECK(std::string(buf, len).find(long_text) != std::string::npos);
      xmpp_free(ctx, buf);
    }
    CHECK(xmpp_stanza_to_text(s, &buf, &len) == XMPP_EMEM);
    xmpp_stanza_release(s);
  }
  xmpp_stanza_t* s = xmpp_stanza_new_from_string(ctx, "<a/>");
  REQUIRE(xmpp_stanza_to_text(s, &buf, &len) == XMPP_EOK);  // outside the guard: normal
  xmpp_free(ctx, buf);
  xmpp_stanza_release(s);
  xmpp_ctx_free(ctx);
}
