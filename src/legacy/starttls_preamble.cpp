// The pre-TLS XMPP stream parser for the legacy listener.
#include "legacy/starttls_preamble.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace pushgate::legacy {
namespace {

constexpr const char* kStream = "http://etherx.jabber.org/streams stream";
constexpr const char* kStarttls = "urn:ietf:params:xml:ns:xmpp-tls starttls";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

StarttlsPreamble::StarttlsPreamble(std::vector<std::string> domains, std::size_t max_bytes)
    : parser_(XML_ParserCreateNS(nullptr, ' ')), domains_(std::move(domains)), max_bytes_(max_bytes) {
  for (auto& d : domains_) d = lower(d);
  XML_SetUserData(parser_, this);
  XML_SetElementHandler(parser_, &on_start, &on_end);
  XML_SetStartNamespaceDeclHandler(parser_, &on_ns);
  XML_SetStartDoctypeDeclHandler(parser_, &on_restricted_doctype);
  XML_SetCommentHandler(parser_, &on_restricted_comment);
  XML_SetProcessingInstructionHandler(parser_, &on_restricted_pi);
}

StarttlsPreamble::~StarttlsPreamble() { XML_ParserFree(parser_); }

void StarttlsPreamble::fail(const char* condition, std::string text) {
  if (step_ == Step::Error || step_ == Step::Proceed) return;
  step_ = Step::Error;
  condition_ = condition;
  text_ = std::move(text);
  XML_StopParser(parser_, XML_FALSE);
}

StarttlsPreamble::Step StarttlsPreamble::feed(std::string_view data) {
  if (step_ == Step::NeedMore && !data.empty()) {
    if (fed_ + data.size() > max_bytes_) {
      fail("policy-violation", "more than " + std::to_string(max_bytes_) + " bytes before TLS");
    } else {
      std::size_t start = fed_;
      fed_ += data.size();
      if (XML_Parse(parser_, data.data(), static_cast<int>(data.size()), XML_FALSE) == XML_STATUS_ERROR &&
          step_ == Step::NeedMore) {
        fail("not-well-formed", std::string("not well-formed XML: ") + XML_ErrorString(XML_GetErrorCode(parser_)));
      }
      if (step_ == Step::Proceed) {
        std::size_t at = proceed_at_ - start;
        leftover_ = at < data.size() ? std::string(data.substr(at)) : std::string();
      }
    }
  }
  // The header is reported once, before whatever the same bytes led to.
  if (header_seen_ && !header_reported_) {
    header_reported_ = true;
    return Step::StreamHeader;
  }
  return step_;
}

void XMLCALL StarttlsPreamble::on_ns(void* user, const XML_Char* prefix, const XML_Char* uri) {
  auto* self = static_cast<StarttlsPreamble*>(user);
  if (self->depth_ != 0 || prefix != nullptr) return;
  self->default_ns_declared_ = true;
  self->default_ns_client_ = uri != nullptr && std::strcmp(uri, "jabber:client") == 0;
}

void XMLCALL StarttlsPreamble::on_start(void* user, const XML_Char* name, const XML_Char** attrs) {
  auto* self = static_cast<StarttlsPreamble*>(user);
  int depth = self->depth_++;
  if (self->step_ != Step::NeedMore) return;
  if (depth == 0) {
    // Whatever goes wrong now, the client gets our stream header before the error.
    self->header_seen_ = true;
    if (std::strcmp(name, kStream) != 0) {
      self->fail("invalid-namespace", "the first element is not an XMPP stream (http://etherx.jabber.org/streams)");
      return;
    }
    if (!self->default_ns_declared_ || !self->default_ns_client_) {
      self->fail("invalid-namespace", "the stream's default namespace is not jabber:client");
      return;
    }
    const char* version = nullptr;
    const char* to = nullptr;
    for (int i = 0; attrs[i] != nullptr; i += 2) {
      if (std::strcmp(attrs[i], "version") == 0) version = attrs[i + 1];
      if (std::strcmp(attrs[i], "to") == 0) to = attrs[i + 1];
    }
    if (to != nullptr) {
      self->domain_ = lower(to);
    } else if (self->domains_.size() == 1) {
      self->domain_ = self->domains_[0];
    }
    if (version == nullptr || std::strncmp(version, "1.", 2) != 0) {
      self->fail("unsupported-version", version == nullptr ? "the stream header has no version='1.0'"
                                                           : "only XMPP version 1.x is served");
      return;
    }
    if (self->domain_.empty() || self->domain_.size() > 1023) {
      self->fail("host-unknown", "the stream header names no domain ('to')");
      return;
    }
    if (!self->domains_.empty() &&
        std::find(self->domains_.begin(), self->domains_.end(), self->domain_) == self->domains_.end()) {
      self->fail("host-unknown", "this server does not serve that domain");
      return;
    }
    return;
  }
  if (depth == 1 && std::strcmp(name, kStarttls) == 0) return;
  self->fail("policy-violation", "STARTTLS is required before anything else");
}

void XMLCALL StarttlsPreamble::on_end(void* user, const XML_Char* name) {
  auto* self = static_cast<StarttlsPreamble*>(user);
  int depth = --self->depth_;
  if (self->step_ != Step::NeedMore) return;
  if (depth == 1 && std::strcmp(name, kStarttls) == 0) {
    self->step_ = Step::Proceed;
    self->proceed_at_ =
        static_cast<std::size_t>(XML_GetCurrentByteIndex(self->parser_) + XML_GetCurrentByteCount(self->parser_));
    XML_StopParser(self->parser_, XML_FALSE);
  } else if (depth == 0) {
    self->fail("", "the client closed its stream");
  }
}

void XMLCALL StarttlsPreamble::on_restricted_doctype(void* user, const XML_Char*, const XML_Char*, const XML_Char*, int) {
  static_cast<StarttlsPreamble*>(user)->fail("restricted-xml", "a DOCTYPE is not allowed in XMPP");
}

void XMLCALL StarttlsPreamble::on_restricted_comment(void* user, const XML_Char*) {
  static_cast<StarttlsPreamble*>(user)->fail("restricted-xml", "comments are not allowed in XMPP");
}

void XMLCALL StarttlsPreamble::on_restricted_pi(void* user, const XML_Char*, const XML_Char*) {
  static_cast<StarttlsPreamble*>(user)->fail("restricted-xml", "processing instructions are not allowed in XMPP");
}

}  // namespace pushgate::legacy
