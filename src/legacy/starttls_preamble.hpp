// What an old client says before TLS, parsed with expat (namespace-aware, incremental, any
// byte boundary): its stream header, then <starttls/>. Pure: bytes in, a step out; no
// sockets. Everything else is an RFC 6120 stream error (DESIGN.md "Legacy TLS listener rules").
#pragma once

#include <expat.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pushgate::legacy {

class StarttlsPreamble {
 public:
  enum class Step {
    NeedMore,      // nothing to do yet
    StreamHeader,  // the client opened its stream: answer with ours and the features
    Proceed,       // <starttls/> complete: send <proceed/>, then TLS takes the leftover bytes
    Error,         // send the stream error `condition()` and close
  };

  // `domains`: the domains served; empty means any `to`. `max_bytes`: the pre-TLS budget.
  explicit StarttlsPreamble(std::vector<std::string> domains, std::size_t max_bytes = 4096);
  ~StarttlsPreamble();
  StarttlsPreamble(const StarttlsPreamble&) = delete;
  StarttlsPreamble& operator=(const StarttlsPreamble&) = delete;

  // Feeds the next bytes. Returns the first step they lead to; after StreamHeader, call
  // feed("") to go on with the bytes already given. After Proceed or Error, stop feeding.
  Step feed(std::string_view data);

  const std::string& domain() const { return domain_; }  // the stream's `to` (or the one domain)
  const char* condition() const { return condition_; }   // RFC 6120 condition for Error
  const std::string& text() const { return text_; }      // a sentence for the log and the client
  // After Proceed: bytes that followed <starttls/> (the start of a ClientHello, if any).
  const std::string& leftover() const { return leftover_; }

 private:
  static void XMLCALL on_start(void* user, const XML_Char* name, const XML_Char** attrs);
  static void XMLCALL on_end(void* user, const XML_Char* name);
  static void XMLCALL on_ns(void* user, const XML_Char* prefix, const XML_Char* uri);
  static void XMLCALL on_restricted_doctype(void* user, const XML_Char*, const XML_Char*, const XML_Char*, int);
  static void XMLCALL on_restricted_comment(void* user, const XML_Char*);
  static void XMLCALL on_restricted_pi(void* user, const XML_Char*, const XML_Char*);
  void fail(const char* condition, std::string text);

  XML_Parser parser_;
  std::vector<std::string> domains_;
  std::size_t max_bytes_;
  std::size_t fed_ = 0;
  int depth_ = 0;
  bool header_seen_ = false;
  bool header_reported_ = false;
  bool default_ns_client_ = false;  // the stream header declared xmlns='jabber:client'
  bool default_ns_declared_ = false;
  Step step_ = Step::NeedMore;
  std::string pending_;  // bytes given but not parsed yet (parsing stopped at an event)
  std::string domain_;
  const char* condition_ = "";
  std::string text_;
  std::string leftover_;
  std::size_t proceed_at_ = 0;  // offset in the current buffer just past <starttls/>
};

}  // namespace pushgate::legacy
