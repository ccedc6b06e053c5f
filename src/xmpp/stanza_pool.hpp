// A size-class free-list allocator for libstrophe's context. libstrophe allocates every
// element name, attribute and text node of every stanza separately; recycling those blocks
// instead of going through malloc each time is most of the component session's speed.
// Loop thread only (the context it serves is used from one thread).
#pragma once

#include <strophe.h>

#include <cstddef>

namespace pushgate::xmpp {

// The memory functions to pass to xmpp_ctx_new(). Blocks up to 4 KiB come from per-size
// free lists (at most kMaxCachedPerClass kept per size), larger ones from malloc.
const xmpp_mem_t* pooled_memory();

// libstrophe renders every received stanza to text for a debug log line, before any
// handler runs and whether or not debug logging is on: for a push publish that is about a
// third of all the work pushgate does. While a SkipReceivedStanzaText is alive on this
// thread, the pool declines exactly that allocation (the 1 KiB first buffer requested
// directly by xmpp_stanza_to_text, recognised by its return address), so the rendering is
// skipped and the debug line is not written. Every other allocation is served as usual.
// Handlers that send stanzas themselves open an AllowStanzaText.
class SkipReceivedStanzaText {
 public:
  SkipReceivedStanzaText();
  ~SkipReceivedStanzaText();
  SkipReceivedStanzaText(const SkipReceivedStanzaText&) = delete;
  SkipReceivedStanzaText& operator=(const SkipReceivedStanzaText&) = delete;

 private:
  bool previous_;
};

class AllowStanzaText {
 public:
  AllowStanzaText();
  ~AllowStanzaText();
  AllowStanzaText(const AllowStanzaText&) = delete;
  AllowStanzaText& operator=(const AllowStanzaText&) = delete;

 private:
  bool previous_;
};

// Whether this libstrophe build lets the skip work (xmpp_stanza_to_text found with its
// size in the dynamic symbol table); when false the guards change nothing.
bool can_skip_received_stanza_text();

// Allocates from the same pool, for objects libstrophe will free with the context's
// allocator (see give_component_sm_state). Zero-filled.
void* pooled_calloc(std::size_t size);

}  // namespace pushgate::xmpp
