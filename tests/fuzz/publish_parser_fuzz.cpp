// libFuzzer target: arbitrary bytes as a stanza from Prosody, through libstrophe's parser
// into pushgate's publish parser, its ad-hoc command parser and their reply builders. Must
// never crash, hang or leak, and every reply must be well-formed.
#include <cstddef>
#include <cstdint>
#include <string>

#include "xmpp/adhoc.hpp"
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
  xmpp_stanza_t* command = xmpp_stanza_get_child_by_name_and_ns(s, "command", pushgate::xmpp::kNsCommands);
  if (command != nullptr) {
    auto c = pushgate::xmpp::parse_adhoc_command(command);
    if (auto* ok = std::get_if<pushgate::xmpp::AdhocCommand>(&c)) {
      (void)ok->service();
      std::vector<std::pair<std::string, std::string>> echo(ok->fields.begin(), ok->fields.end());
      std::string reply = pushgate::xmpp::iq_result_xml("push.example", pushgate::xmpp::attr(s, "from"),
                                                        pushgate::xmpp::attr(s, "id"),
                                                        pushgate::xmpp::adhoc_completed_xml(ok->node, ok->sessionid, echo));
      xmpp_stanza_t* back = xmpp_stanza_new_from_string(ctx, reply.c_str());
      if (back == nullptr) __builtin_trap();
      xmpp_stanza_release(back);
    }
  }
  xmpp_stanza_release(s);
  return 0;
}
