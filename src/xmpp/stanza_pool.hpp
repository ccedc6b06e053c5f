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

// Allocates from the same pool, for objects libstrophe will free with the context's
// allocator (see give_component_sm_state). Zero-filled.
void* pooled_calloc(std::size_t size);

}  // namespace pushgate::xmpp
