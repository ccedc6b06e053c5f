// POST /push as the event loop serves it without cpp-httplib: the request line and the header
// fields httplib's /push route would read, taken the way httplib 0.11 parses them, and the
// answer byte for byte as httplib's write_response writes it. A request httplib would treat in
// any other way (another target, compression, ranges, multipart, percent-encoded values…) is
// declined and goes to httplib itself. Pure: the unit tests hold both sides to httplib's output.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pushgate::api {

struct PushHead {
  std::string content_type;  // the first Content-Type field's value as httplib reads it; empty without one
  bool says_close = false;   // the request asked for `Connection: close`: the answer says it too
  bool closes = false;       // httplib would not keep the connection after the answer (HTTP/1.0 without Keep-Alive, or close)
};

// `head`: a complete request head, from the request line to the blank line; `body_bytes`: the
// length of the body that follows. A PushHead when it is `POST /push` over HTTP/1.1 or 1.0
// and httplib would hand its /push handler exactly this content type and the body as it is;
// nullopt otherwise (httplib must see the request).
std::optional<PushHead> read_push_head(std::string_view head, std::size_t body_bytes);

// httplib's Keep-Alive answer header: its keep-alive timeout and maximum request count.
struct KeepAliveHeader {
  std::chrono::seconds timeout;
  std::size_t max;
};

// An answer with a body as httplib writes it: the status line (always HTTP/1.1), then its
// header fields in httplib's order (names sorted without regard to case) — `Connection: close`
// when `close`, else `Keep-Alive` — Content-Length and Content-Type, then the body.
std::string write_answer(int status, std::string_view content_type, std::string_view body, bool close,
                         const KeepAliveHeader& keep_alive);

// The reason phrase httplib 0.11 writes for a status.
const char* status_text(int status);

}  // namespace pushgate::api
