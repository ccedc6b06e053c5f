// The one way pushgate writes XML to a peer (stanzas to Prosody, stream headers and errors to
// legacy clients). Element and attribute names are ours: a Name can only be made from a string
// literal or from one of our own tables. Every attribute value and every text goes through
// append_escaped(), so nothing a client sent can end an attribute, open an element or break
// the stream.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pushgate::xml {

// Appends `value` escaped for both attribute values and text: the five special characters
// become entities, tab, LF and CR become character references (a parser keeps them as they
// are), the other control characters (XML 1.0 cannot carry them) are dropped, and bytes that are not valid UTF-8 become
// U+FFFD, so the output is always well-formed whatever `value` holds.
void append_escaped(std::string& out, std::string_view value);
std::string escaped(std::string_view value);

// An element or attribute name. Made at compile time from a literal, or with ours() from a
// name in one of our own tables (an error condition); never from input.
class Name {
 public:
  consteval Name(const char* literal) : text_(literal) {}  // NOLINT(google-explicit-constructor)
  // A name from our own tables, e.g. XmppErrorCondition::condition. Names outside
  // [A-Za-z0-9:_.-] are a programming error and are replaced by "invalid-name".
  static Name ours(const char* name);
  const char* c_str() const { return text_; }

 private:
  struct Trusted {};
  Name(Trusted, const char* text) : text_(text) {}
  const char* text_;
};

// Writes elements in order: open(), then attr()s, then children or text, then close().
//   Writer w;
//   w.open("iq").attr("to", to).attr("id", id).open("ping").attr("xmlns", kNsPing).close();
//   std::string xml = w.finish();   // <iq to="…" id="…"><ping xmlns="…"/></iq>
class Writer {
 public:
  Writer& open(Name name);
  // Only between open() and the first child or text of that element.
  Writer& attr(Name name, std::string_view value);
  Writer& text(std::string_view value);
  // Closes the innermost open element: `/>` when it has no content, else `</name>`.
  Writer& close();
  // open + close: an element with no attributes and no content.
  Writer& empty(Name name) { return open(name).close(); }

  // Closes every open element and returns the document.
  std::string finish();
  // Ends the start tag of the innermost element and returns what was written, leaving the
  // elements open: for an XMPP stream header (<stream:stream …>), whose end comes much later.
  std::string head();

 private:
  void end_start_tag();
  std::string out_;
  std::vector<const char*> open_;
  bool in_start_tag_ = false;
};

}  // namespace pushgate::xml
