// Finds the end of an HTTP/1.1 request head in bytes as they arrive and says whether it stays
// within the API's bounds. Pure (no sockets): the front door feeds it, the unit tests too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pushgate::api {

struct HeadLimits {
  std::size_t max_bytes = 16 * 1024;  // request line, header fields and the blank line
  std::size_t max_fields = 100;       // header field lines
};

enum class HeadState {
  Incomplete,     // no blank line yet, bounds kept: wait for more bytes
  Complete,       // the blank line arrived within the bounds
  TooLarge,       // max_bytes passed without the blank line (431)
  TooManyFields,  // more than max_fields field lines (431)
  BadLength,      // Content-Length is not a number, or two differ (400)
};

struct RequestHead {
  HeadState state = HeadState::Incomplete;
  // The rest is set when Complete.
  std::size_t head_bytes = 0;        // up to and including the blank line
  std::uint64_t content_length = 0;  // 0 without a Content-Length field
  bool chunked = false;              // a Transfer-Encoding field is present
  // The `Expect: 100-continue` line, [expect_begin, expect_end); equal when there is none.
  std::size_t expect_begin = 0;
  std::size_t expect_end = 0;
};

class HeadScanner {
 public:
  explicit HeadScanner(HeadLimits limits) : limits_(limits) {}

  // `buffer` begins with a request and has only grown since the last call (or reset()): each
  // byte is looked at once, so a head trickling in byte by byte costs linear time. A bound
  // broken is reported as soon as it is, without waiting for the rest of the head. Once the
  // answer is not Incomplete it stays the same until reset().
  RequestHead scan(std::string_view buffer);
  // For the next request on the connection: its buffer begins with that request.
  void reset() { *this = HeadScanner(limits_); }

 private:
  HeadLimits limits_;
  RequestHead result_;
  std::size_t scanned_ = 0;     // bytes looked at
  std::size_t line_start_ = 0;  // where the line being scanned begins
  std::size_t lines_ = 0;       // complete lines, the request line included
};

}  // namespace pushgate::api
