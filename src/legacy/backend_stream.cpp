// The backend side of the legacy listener, as text.
#include "legacy/backend_stream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <regex>

#include "common/xml_writer.hpp"

namespace pushgate::legacy {

std::string proxy_header(int version, const sockaddr_storage& client, const sockaddr_storage& local) {
  if (client.ss_family != local.ss_family || (client.ss_family != AF_INET && client.ss_family != AF_INET6)) return {};
  bool v4 = client.ss_family == AF_INET;
  if (version == 1) {
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    unsigned sport, dport;
    if (v4) {
      const auto* c = reinterpret_cast<const sockaddr_in*>(&client);
      const auto* l = reinterpret_cast<const sockaddr_in*>(&local);
      inet_ntop(AF_INET, &c->sin_addr, src, sizeof src);
      inet_ntop(AF_INET, &l->sin_addr, dst, sizeof dst);
      sport = ntohs(c->sin_port);
      dport = ntohs(l->sin_port);
    } else {
      const auto* c = reinterpret_cast<const sockaddr_in6*>(&client);
      const auto* l = reinterpret_cast<const sockaddr_in6*>(&local);
      inet_ntop(AF_INET6, &c->sin6_addr, src, sizeof src);
      inet_ntop(AF_INET6, &l->sin6_addr, dst, sizeof dst);
      sport = ntohs(c->sin6_port);
      dport = ntohs(l->sin6_port);
    }
    return std::string("PROXY ") + (v4 ? "TCP4 " : "TCP6 ") + src + " " + dst + " " + std::to_string(sport) + " " +
           std::to_string(dport) + "\r\n";
  }
  // v2: signature, version 2 + PROXY command, family + STREAM, length, addresses, ports.
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(0x21);
  h += static_cast<char>(v4 ? 0x11 : 0x21);
  std::uint16_t len = v4 ? 12 : 36;
  h += static_cast<char>(len >> 8);
  h += static_cast<char>(len & 0xff);
  auto put = [&h](const void* p, std::size_t n) { h.append(static_cast<const char*>(p), n); };
  if (v4) {
    const auto* c = reinterpret_cast<const sockaddr_in*>(&client);
    const auto* l = reinterpret_cast<const sockaddr_in*>(&local);
    put(&c->sin_addr, 4);
    put(&l->sin_addr, 4);
    put(&c->sin_port, 2);
    put(&l->sin_port, 2);
  } else {
    const auto* c = reinterpret_cast<const sockaddr_in6*>(&client);
    const auto* l = reinterpret_cast<const sockaddr_in6*>(&local);
    put(&c->sin6_addr, 16);
    put(&l->sin6_addr, 16);
    put(&c->sin6_port, 2);
    put(&l->sin6_port, 2);
  }
  return h;
}

std::string backend_stream_header(const std::string& domain) {
  xml::Writer w;
  w.open("stream:stream").attr("xmlns", "jabber:client").attr("xmlns:stream", "http://etherx.jabber.org/streams");
  w.attr("to", domain).attr("version", "1.0");
  return "<?xml version='1.0'?>" + w.head();
}

BackendStarttls::Step BackendStarttls::feed(std::string_view data) {
  buffer_.append(data);
  if (buffer_.size() > 64 * 1024) {
    error_ = "Prosody sent more than 64 KiB before TLS";
    return Step::Error;
  }
  if (!asked_) {
    if (buffer_.find("<stream:error") != std::string::npos) {
      error_ = "Prosody refused the stream: " + buffer_.substr(buffer_.find("<stream:error"), 200);
      return Step::Error;
    }
    auto end = buffer_.find("</stream:features>");
    if (end == std::string::npos) return Step::NeedMore;
    if (buffer_.find("urn:ietf:params:xml:ns:xmpp-tls") == std::string::npos) {
      error_ = "Prosody's c2s port offers no STARTTLS: use backend_mode = \"plain\" or enable TLS in Prosody";
      return Step::Error;
    }
    buffer_.erase(0, end + 18);
    asked_ = true;
    return Step::SendStarttls;
  }
  if (buffer_.find("<proceed") != std::string::npos) return Step::StartTls;
  if (buffer_.find("<failure") != std::string::npos || buffer_.find("<stream:error") != std::string::npos) {
    error_ = "Prosody refused STARTTLS";
    return Step::Error;
  }
  return Step::NeedMore;
}

std::string FeaturesFilter::feed(std::string_view data) {
  if (done_) return std::string(data);
  held_.append(data);
  auto end = held_.find("</stream:features>");
  auto empty = held_.find("<stream:features/>");
  if (empty != std::string::npos && empty < end) {  // no features at all: nothing to remove
    done_ = true;
    return std::move(held_);
  }
  if (end == std::string::npos) {
    if (held_.size() <= 64 * 1024) return {};
    done_ = true;
    return std::move(held_);
  }
  done_ = true;
  end += 18;
  static const std::regex kPlus("<mechanism>SCRAM-[A-Za-z0-9-]+-PLUS</mechanism>");
  std::string out = std::regex_replace(held_.substr(0, end), kPlus, "");
  // Channel-binding types are meaningless without the -PLUS mechanisms.
  static const std::regex kBindings("<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>.*?</sasl-channel-binding>");
  out = std::regex_replace(out, kBindings, "");
  out.append(held_, end, std::string::npos);
  held_.clear();
  return out;
}

std::string FeaturesFilter::finish() {
  done_ = true;
  return std::move(held_);
}

}  // namespace pushgate::legacy
