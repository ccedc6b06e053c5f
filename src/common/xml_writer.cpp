// The escaping XML writer every stanza and stream element pushgate sends is built with.
#include "common/xml_writer.hpp"

#include <cstdint>

namespace pushgate::xml {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (c > 0xF4 || n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
  }
  if (n == 3 && ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) >= 0xA0))) return 0;
  if (n == 4 && ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) >= 0x90))) return 0;
  // U+FFFE and U+FFFF are not XML characters either.
  if (n == 3 && c == 0xEF && b(1) == 0xBF && (b(2) == 0xBE || b(2) == 0xBF)) return 0;
  return n;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

void append_escaped(std::string& out, std::string_view value) {
  for (std::size_t i = 0; i < value.size();) {
    char c = value[i];
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      std::size_t n = utf8_sequence(value, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
      } else {
        out.append(value.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      // As references, so a parser's attribute-value and line-end normalization keeps them.
      case '\t':
        out += "&#9;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        // XML 1.0 forbids the other control characters even as references: drop them.
        if (u >= 0x20) out += c;
    }
    ++i;
  }
}

std::string escaped(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  append_escaped(out, value);
  return out;
}

Name Name::ours(const char* name) {
  bool ok = name != nullptr && name[0] != '\0';
  for (const char* p = name; ok && *p != '\0'; ++p) ok = is_name_char(*p);
  return Name(Trusted{}, ok ? name : "invalid-name");
}

void Writer::end_start_tag() {
  if (in_start_tag_) {
    out_ += '>';
    in_start_tag_ = false;
  }
}

Writer& Writer::open(Name name) {
  end_start_tag();
  out_ += '<';
  out_ += name.c_str();
  open_.push_back(name.c_str());
  in_start_tag_ = true;
  return *this;
}

Writer& Writer::attr(Name name, std::string_view value) {
  if (!in_start_tag_) return *this;  // a misuse; writing it would break the document
  out_ += ' ';
  out_ += name.c_str();
  out_ += "=\"";
  append_escaped(out_, value);
  out_ += '"';
  return *this;
}

Writer& Writer::text(std::string_view value) {
  if (open_.empty()) return *this;  // text outside the root would not be XML
  end_start_tag();
  append_escaped(out_, value);
  return *this;
}

Writer& Writer::close() {
  if (open_.empty()) return *this;
  if (in_start_tag_) {
    out_ += "/>";
    in_start_tag_ = false;
  } else {
    out_ += "</";
    out_ += open_.back();
    out_ += '>';
  }
  open_.pop_back();
  return *this;
}

std::string Writer::finish() {
  while (!open_.empty()) close();
  return std::move(out_);
}

std::string Writer::head() {
  end_start_tag();
  open_.clear();
  return std::move(out_);
}

}  // namespace pushgate::xml
