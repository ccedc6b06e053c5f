// Size-class free lists behind libstrophe's xmpp_mem_t.
#include "xmpp/stanza_pool.hpp"

#include <dlfcn.h>
#include <link.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

namespace pushgate::xmpp {
namespace {

constexpr std::size_t kHeader = 16;  // keeps the payload 16-byte aligned
constexpr std::size_t kClasses = 9;  // 16, 32, 64, … 4096 bytes
constexpr std::size_t kMaxCachedPerClass = 8192;
constexpr std::uint32_t kLarge = 0xffffffffu;

struct FreeBlock {
  FreeBlock* next;
};
struct FreeList {
  FreeBlock* head = nullptr;
  std::size_t count = 0;
};
thread_local FreeList g_lists[kClasses];

std::size_t class_size(std::size_t c) { return std::size_t{16} << c; }

std::uint32_t class_for(std::size_t size) {
  for (std::size_t c = 0; c < kClasses; ++c) {
    if (size <= class_size(c)) return static_cast<std::uint32_t>(c);
  }
  return kLarge;
}

struct Header {
  std::uint32_t cls;
  std::uint32_t pad;
  std::size_t size;  // requested size, for realloc
};
static_assert(sizeof(Header) <= kHeader);

thread_local bool g_skip_text = false;

struct CodeRange {
  std::uintptr_t lo = 0, hi = 0;
};

// Where xmpp_stanza_to_text's code lies, from the dynamic symbol table; empty if unknown.
const CodeRange& stanza_to_text_code() {
  static const CodeRange range = [] {
    CodeRange r;
    void* addr = dlsym(RTLD_DEFAULT, "xmpp_stanza_to_text");
    Dl_info info{};
    void* extra = nullptr;
    bool found = addr != nullptr && dladdr1(addr, &info, &extra, RTLD_DL_SYMENT) != 0;
    const auto* sym = static_cast<const ElfW(Sym)*>(extra);
    if (found &&
        sym != nullptr && sym->st_size > 0 && info.dli_saddr == addr) {
      r.lo = reinterpret_cast<std::uintptr_t>(addr);
      r.hi = r.lo + sym->st_size;
    }
    return r;
  }();
  return range;
}

constexpr std::size_t kStanzaTextFirstBuffer = 1024;  // libstrophe's stanza.c, every release

// Called only through xmpp_mem_t, so its return address is its real caller.
__attribute__((noinline)) void* pool_alloc(std::size_t size, void* = nullptr) {
  if (g_skip_text && size == kStanzaTextFirstBuffer) {
    auto ret = reinterpret_cast<std::uintptr_t>(__builtin_return_address(0));
    const CodeRange& r = stanza_to_text_code();
    if (ret >= r.lo && ret < r.hi) return nullptr;
  }
  std::uint32_t cls = class_for(size);
  void* raw = nullptr;
  if (cls != kLarge && g_lists[cls].head != nullptr) {
    FreeList& l = g_lists[cls];
    raw = l.head;
    l.head = l.head->next;
    --l.count;
  } else {
    raw = std::malloc(kHeader + (cls == kLarge ? size : class_size(cls)));
    if (raw == nullptr) return nullptr;
  }
  auto* h = static_cast<Header*>(raw);
  h->cls = cls;
  h->size = size;
  return static_cast<char*>(raw) + kHeader;
}

void pool_free(void* p, void* = nullptr) {
  if (p == nullptr) return;
  void* raw = static_cast<char*>(p) - kHeader;
  std::uint32_t cls = static_cast<Header*>(raw)->cls;
  if (cls == kLarge || g_lists[cls].count >= kMaxCachedPerClass) {
    std::free(raw);
    return;
  }
  FreeList& l = g_lists[cls];
  auto* b = static_cast<FreeBlock*>(raw);
  b->next = l.head;
  l.head = b;
  ++l.count;
}

void* pool_realloc(void* p, std::size_t size, void* = nullptr) {
  if (p == nullptr) return pool_alloc(size);
  auto* h = reinterpret_cast<Header*>(static_cast<char*>(p) - kHeader);
  if (h->cls != kLarge && size <= class_size(h->cls)) {
    h->size = size;
    return p;
  }
  void* q = pool_alloc(size);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, h->size < size ? h->size : size);
  pool_free(p);
  return q;
}

const xmpp_mem_t kPooled = {pool_alloc, pool_free, pool_realloc, nullptr};

}  // namespace

const xmpp_mem_t* pooled_memory() { return &kPooled; }

SkipReceivedStanzaText::SkipReceivedStanzaText() : previous_(g_skip_text) { g_skip_text = true; }
SkipReceivedStanzaText::~SkipReceivedStanzaText() { g_skip_text = previous_; }
AllowStanzaText::AllowStanzaText() : previous_(g_skip_text) { g_skip_text = false; }
AllowStanzaText::~AllowStanzaText() { g_skip_text = previous_; }

bool can_skip_received_stanza_text() { return stanza_to_text_code().hi != 0; }

void* pooled_calloc(std::size_t size) {
  void* p = pool_alloc(size);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, size);
  return p;
}

}  // namespace pushgate::xmpp
