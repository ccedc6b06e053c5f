// libFuzzer target: arbitrary bytes as a disco answer from the XMPP server, through
// libstrophe's parser into --check --online's readers and findings. Must never crash, hang or
// leak; what is kept stays within its bounds, and the report written from it holds no control
// character but the newline ending each line, and no bidi or invisible format character.
#include <cstddef>
#include <cstdint>
#include <string>

#include "xmpp/server_check.hpp"
#include "xmpp/stanza_pool.hpp"

namespace {
void expect_terminal_safe(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7f) __builtin_trap();
    if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      __builtin_trap();  // a C1 control
    }
    if (c == 0xe2 && i + 2 < text.size()) {
      auto b1 = static_cast<unsigned char>(text[i + 1]), b2 = static_cast<unsigned char>(text[i + 2]);
      bool format = (b1 == 0x80 && ((b2 >= 0x8b && b2 <= 0x8f) || (b2 >= 0xaa && b2 <= 0xae))) ||
                    (b1 == 0x81 && b2 >= 0xa6 && b2 <= 0xa9);
      if (format) __builtin_trap();  // a bidi or invisible format character (U+200B–F, U+202A–E, U+2066–9)
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pushgate::xmpp;
  static xmpp_ctx_t* ctx = [] {
    xmpp_initialize();
    return xmpp_ctx_new(pooled_memory(), nullptr);
  }();
  std::string text(reinterpret_cast<const char*>(data), size);
  expect_terminal_safe(printable(text));
  xmpp_stanza_t* s = xmpp_stanza_new_from_string(ctx, text.c_str());
  if (s == nullptr) return 0;
  std::string error = printable(read_iq_error(s));
  expect_terminal_safe(error);
  if (auto info = read_disco_info(s)) {
    if (info->features.size() > kMaxDiscoEntries || info->server_name.size() > kMaxDiscoText) __builtin_trap();
    for (const auto& f : info->features) {
      if (f.size() > kMaxDiscoText) __builtin_trap();
    }
    ServerKind kind = server_kind(*info);
    for (const auto& f : account_findings("example.org", kind, "a@example.org", *info)) expect_terminal_safe(render(f));
    for (const auto& f : host_findings("example.org", kind, *info)) expect_terminal_safe(render(f));
  }
  if (auto name = read_version_name(s)) {
    if (name->size() > kMaxDiscoText) __builtin_trap();
    (void)server_kind(*name);
  }
  if (auto items = read_disco_items(s)) {
    if (items->size() > kMaxDiscoEntries) __builtin_trap();
    expect_terminal_safe(render(items_finding("example.org", ServerKind::Unknown, "push.example.org", *items)));
  }
  xmpp_stanza_release(s);
  return 0;
}
