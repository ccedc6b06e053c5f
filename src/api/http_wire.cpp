// The loop's POST /push reader and httplib's answer writer, mirroring cpp-httplib 0.11
// (Server::parse_request_line, detail::read_headers and parse_header, write_response_core).
#include "api/http_wire.hpp"

#include <algorithm>
#include <cctype>

namespace pushgate::api {
namespace {

// httplib's CPPHTTPLIB_HEADER_MAX_LENGTH: a longer field line is a 400 there.
constexpr std::size_t kMaxFieldLine = 8192;
// httplib's CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH: a longer form body is a 413 there.
constexpr std::size_t kMaxFormBody = 8192;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool space_or_tab(char c) { return c == ' ' || c == '\t'; }

}  // namespace

std::optional<PushHead> read_push_head(std::string_view head, std::size_t body_bytes) {
  // parse_request_line: three fields split on spaces; only this exact line routes to /push
  // with nothing else taken from it (a query, a fragment or an escape go to httplib).
  bool http10 = false;
  if (head.starts_with("POST /push HTTP/1.1\r\n")) {
    http10 = false;
  } else if (head.starts_with("POST /push HTTP/1.0\r\n")) {
    http10 = true;
  } else {
    return std::nullopt;
  }
  std::optional<std::string_view> content_type, connection;
  std::size_t pos = head.find('\n') + 1;
  for (;;) {
    std::size_t end = head.find('\n', pos);
    if (end == std::string_view::npos) return std::nullopt;  // not a complete head
    std::string_view line = head.substr(pos, end + 1 - pos);
    pos = end + 1;
    // read_headers skips a line without CRLF; the head scanner ends a head at a bare LF.
    if (line.size() < 2 || line[line.size() - 2] != '\r') return std::nullopt;
    if (line.size() == 2) break;  // the blank line
    if (line.size() > kMaxFieldLine) return std::nullopt;
    // parse_header: trailing blanks dropped, the name up to the first colon as it is, the
    // value after leading blanks; a line without a colon or a value is ignored.
    std::string_view text = line.substr(0, line.size() - 2);
    while (!text.empty() && space_or_tab(text.back())) text.remove_suffix(1);
    std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = text.substr(0, colon);
    std::string_view value = text.substr(colon + 1);
    while (!value.empty() && space_or_tab(value.front())) value.remove_prefix(1);
    if (value.empty()) continue;
    // Fields that make httplib do more than hand the body over: a body to decompress, ranges
    // of the answer, an Expect it would answer itself, an answer it would compress (Debian's
    // build has brotli and zlib; it looks for these words anywhere in the value).
    if (iequals(name, "Content-Encoding") || iequals(name, "Range") || iequals(name, "Expect")) return std::nullopt;
    if (iequals(name, "Accept-Encoding") &&
        (value.find("br") != std::string_view::npos || value.find("gzip") != std::string_view::npos ||
         value.find('%') != std::string_view::npos)) {
      return std::nullopt;
    }
    bool type = iequals(name, "Content-Type");
    bool conn = iequals(name, "Connection");
    if (!type && !conn) continue;
    // httplib percent-decodes field values; only plain ones are taken here.
    if (value.find('%') != std::string_view::npos) return std::nullopt;
    // get_header_value: the first of several.
    if (type && !content_type) content_type = value;
    if (conn && !connection) connection = value;
  }
  if (pos != head.size()) return std::nullopt;
  PushHead out;
  out.content_type = std::string(content_type.value_or(""));
  // read_content: multipart bodies are parsed into files and a long form body is a 413.
  if (out.content_type.rfind("multipart/", 0) == 0) return std::nullopt;
  if (out.content_type.rfind("application/x-www-form-urlencoded", 0) == 0 && body_bytes > kMaxFormBody) {
    return std::nullopt;
  }
  // process_request: exact, case-sensitive comparisons.
  out.says_close = connection == "close";
  out.closes = out.says_close || (http10 && connection != "Keep-Alive");
  return out;
}

std::string write_answer(int status, std::string_view content_type, std::string_view body, bool close,
                         const KeepAliveHeader& keep_alive) {
  std::string out;
  out.reserve(160 + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += status_text(status);
  out += "\r\n";
  // httplib's Headers is a multimap ordered by name without regard to case.
  if (close) out += "Connection: close\r\n";
  out += "Content-Length: ";
  out += std::to_string(body.size());
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\n";
  if (!close) {
    out += "Keep-Alive: timeout=";
    out += std::to_string(keep_alive.timeout.count());
    out += ", max=";
    out += std::to_string(keep_alive.max);
    out += "\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

const char* status_text(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocol";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choice";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 306: return "unused";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Entity";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return "Internal Server Error";
  }
}

}  // namespace pushgate::api
