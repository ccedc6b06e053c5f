// The request head scanner: line counting while bytes arrive, then one pass over the fields
// the front door needs (Content-Length, Transfer-Encoding, Expect).
#include "api/head_scanner.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

namespace pushgate::api {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// Digits only, at most 18 of them (no overflow); nullopt otherwise.
std::optional<std::uint64_t> parse_length(std::string_view v) {
  if (v.empty() || v.size() > 18) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

// Reads the fields of a complete head (the request line and the blank line excluded).
void read_fields(std::string_view head, RequestHead& out) {
  std::optional<std::uint64_t> length;
  std::size_t pos = head.find('\n') + 1;  // past the request line
  while (pos < head.size()) {
    std::size_t end = head.find('\n', pos);
    std::string_view line = head.substr(pos, end - pos + 1);
    std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view name = line.substr(0, colon);
      std::string_view value = trim(line.substr(colon + 1));
      if (iequals(name, "content-length")) {
        auto n = parse_length(value);
        if (!n || (length && *length != *n)) {
          out.state = HeadState::BadLength;
          return;
        }
        length = n;
      } else if (iequals(name, "transfer-encoding")) {
        out.chunked = true;
      } else if (iequals(name, "expect") && iequals(value, "100-continue")) {
        out.expect_begin = pos;
        out.expect_end = pos + line.size();
      }
    }
    pos = end + 1;
  }
  out.content_length = length.value_or(0);
}

}  // namespace

RequestHead HeadScanner::scan(std::string_view buffer) {
  if (result_.state != HeadState::Incomplete) return result_;
  std::size_t until = std::min(buffer.size(), limits_.max_bytes);
  for (; scanned_ < until; ++scanned_) {
    if (buffer[scanned_] != '\n') continue;
    std::size_t length = scanned_ + 1 - line_start_;
    bool blank = length == 1 || (length == 2 && buffer[line_start_] == '\r');
    line_start_ = scanned_ + 1;
    if (blank) {
      // A blank first line is handed on too: httplib answers it 400.
      result_.state = HeadState::Complete;
      result_.head_bytes = line_start_;
      if (lines_ > 0) read_fields(buffer.substr(0, result_.head_bytes), result_);
      return result_;
    }
    if (++lines_ > limits_.max_fields + 1) {
      result_.state = HeadState::TooManyFields;
      return result_;
    }
  }
  if (scanned_ >= limits_.max_bytes) result_.state = HeadState::TooLarge;
  return result_;
}

}  // namespace pushgate::api
