// libFuzzer target: arbitrary bytes as a stanza from Prosody, through libstrophe's parser
// into pushgate's publish parser and reply builder. Must never crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string>

#include "xmpp/publish_parser.hpp"
#include "xmpp/stanza.hpp"
#include "xmpp/stanza_pool.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static xmpp_ctx_t* ctx = [] {
    xmpp_initialize();
    return xmpp_ctx_new(pushgate::xmpp::pooled_memory(), nullptr);
  }();
  std::string text(reinterpret_cast<const char*>(data), size);
  xmpp_stanza_t* s = xmpp_stanza_new_from_string(ctx, text.c_str());
  if (s == nullptr) return 0;
  pushgate::xmpp::is_publish(s);
  auto r = pushgate::xmpp::parse_publish(s);
  if (auto* e = std::get_if<pushgate::xmpp::ParseError>(&r)) {
    std::string reply = pushgate::xmpp::iq_reply_xml("push.example", pushgate::xmpp::attr(s, "from"),
                                                     pushgate::xmpp::attr(s, "id"), {"modify", "bad-request"}, e->reason);
    // The reply must itself be well-formed.
    xmpp_stanza_t* back = xmpp_stanza_new_from_string(ctx, reply.c_str());
    if (back == nullptr) __builtin_trap();
    xmpp_stanza_release(back);
  }
  xmpp_stanza_release(s);
  return 0;
}
