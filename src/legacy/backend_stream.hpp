// What the legacy listener says to Prosody, pure (bytes in, bytes or a step out; no sockets):
// the PROXY protocol header, the client-side STARTTLS exchange with Prosody's c2s port
// (starttls mode), and the removal of SCRAM-*-PLUS from the first features relayed to the
// client (channel binding cannot cross a TLS-terminating proxy).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace pushgate::legacy {

// "PROXY TCP4 …\r\n" (v1) or the binary v2 header for a TCP connection from `client` to
// `local`. Empty for an address family PROXY cannot express.
std::string proxy_header(int version, const sockaddr_storage& client, const sockaddr_storage& local);

// Our stream header towards Prosody's c2s port, asking for `domain`.
std::string backend_stream_header(const std::string& domain);

// Reads Prosody's answers before TLS in starttls mode. Feed it every byte Prosody sends.
class BackendStarttls {
 public:
  enum class Step { NeedMore, SendStarttls, StartTls, Error };
  Step feed(std::string_view data);
  const std::string& error() const { return error_; }

 private:
  std::string buffer_;
  bool asked_ = false;
  std::string error_;
};

// Removes <mechanism>SCRAM-…-PLUS</mechanism> from the first <stream:features> that passes
// through, and passes everything else untouched. Holds bytes back only until the end of
// those features, or an empty <stream:features/> (at most 64 KiB; past that it gives up and
// passes them as they are).
class FeaturesFilter {
 public:
  // Returns the bytes to forward now.
  std::string feed(std::string_view data);
  // The stream ended (Prosody closed) with bytes still held, such as its own stream error
  // before any features: returns them, as they are, to be forwarded last.
  std::string finish();
  bool done() const { return done_; }

 private:
  std::string held_;
  bool done_ = false;
};

}  // namespace pushgate::legacy
