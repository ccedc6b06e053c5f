// Helpers for tests that build libstrophe stanzas from XML text.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include "xmpp/stanza.hpp"

namespace pushgate::test {

// One libstrophe context shared by the tests of a file.
inline xmpp_ctx_t* strophe_ctx() {
  static xmpp::CtxPtr ctx = [] {
    xmpp_initialize();
    return xmpp::CtxPtr(xmpp_ctx_new(nullptr, nullptr));
  }();
  return ctx.get();
}

inline xmpp::StanzaPtr stanza(const std::string& xml) {
  return xmpp::StanzaPtr(xmpp_stanza_new_from_string(strophe_ctx(), xml.c_str()));
}

inline std::string to_text(xmpp_stanza_t* s) {
  char* buf = nullptr;
  size_t len = 0;
  xmpp_stanza_to_text(s, &buf, &len);
  std::string out(buf, len);
  xmpp_free(strophe_ctx(), buf);
  return out;
}

inline std::string read_data(const std::string& name) {
  std::ifstream in(std::string(TEST_DATA_DIR) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace pushgate::test
