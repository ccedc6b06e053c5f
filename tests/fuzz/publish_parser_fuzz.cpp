// libFuzzer target: arbitrary bytes as a stanza from Prosody, through libstrophe's parser
// into pushgate's publish parser, its ad-hoc command path (parser, sessionid check, cancel,
// completed) and their reply builders. Must never crash, hang or leak, and every ad-hoc reply
// must be exactly one <iq> to the requester with the request's id.
#include <cstddef>
#include <cstdint>
#include <string>

#include "../support/xml_check.hpp"
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
  if (!r.ok()) {
    std::string reply =
        pushgate::xmpp::iq_reply_xml("push.example", pushgate::xmpp::attr(s, "from"), pushgate::xmpp::attr(s, "id"),
                                     {"modify", "bad-request"}, r.error().message());
    // The reply must itself be well-formed.
    xmpp_stanza_t* back = xmpp_stanza_new_from_string(ctx, reply.c_str());
    if (back == nullptr) __builtin_trap();
    xmpp_stanza_release(back);
  }
  xmpp_stanza_t* command = xmpp_stanza_get_child_by_name_and_ns(s, "command", pushgate::xmpp::kNsCommands);
  if (command != nullptr) {
    // The ad-hoc path as the component runs it: the first step answers parse errors, unknown
    // sessionids and cancel at once; the rest is answered `completed` with a form. Every reply
    // must be exactly one <iq> addressed to the requester, whatever the attributes held.
    static pushgate::xmpp::AdhocSessions sessions;
    std::string from = pushgate::xmpp::attr(s, "from");
    std::string id = pushgate::xmpp::attr(s, "id");
    auto step = pushgate::xmpp::adhoc_first_step(command, "push.example", from, id, sessions);
    std::string reply = step.reply;
    if (reply.empty()) {
      std::vector<std::pair<std::string, std::string>> echo(step.command.fields.begin(), step.command.fields.end());
      (void)step.command.service();
      reply = pushgate::xmpp::adhoc_completed_xml("push.example", from, id, step.command.node, step.command.sessionid,
                                                  echo);
    }
    auto root = pushgate::test::parse_single_element(reply);
    if (!root.ok || root.name != "iq" || root.attrs["to"] != from || root.attrs["id"] != id) __builtin_trap();
  }
  xmpp_stanza_release(s);
  return 0;
}
