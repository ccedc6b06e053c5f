// Cause and fix of a refused or ended component connection, a TCP probe for the errno
// libstrophe drops, and the stream-management workaround for libstrophe 0.12.
#include "xmpp/component_errors.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "xmpp/stanza_pool.hpp"

namespace pushgate::xmpp {
namespace {

// Where each server configures the component `jid`, with `prosody_key` (under its Component
// line) and `ejabberd_key` (under its hosts: entry) when one is named. Neither the daemon nor a
// refused handshake knows which server it is, so both are named.
std::string server_setting(const std::string& jid, const std::string& prosody_key, const std::string& ejabberd_key) {
  std::string prosody = "Prosody: Component \"" + jid + "\"" + (prosody_key.empty() ? "" : " with " + prosody_key);
  std::string ejabberd = "ejabberd: listen: entry with module: ejabberd_service, hosts: " + jid + ":" +
                         (ejabberd_key.empty() ? "" : " " + ejabberd_key);
  return prosody + "; " + ejabberd;
}

}  // namespace

std::string stream_error_name(xmpp_error_type_t t) {
  switch (t) {
    case XMPP_SE_NOT_AUTHORIZED: return "not-authorized";
    case XMPP_SE_HOST_UNKNOWN: return "host-unknown";
    case XMPP_SE_CONFLICT: return "conflict";
    case XMPP_SE_SYSTEM_SHUTDOWN: return "system-shutdown";
    case XMPP_SE_CONN_TIMEOUT: return "connection-timeout";
    case XMPP_SE_POLICY_VIOLATION: return "policy-violation";
    case XMPP_SE_XML_NOT_WELL_FORMED: return "not-well-formed";
    case XMPP_SE_INVALID_NS: return "invalid-namespace";
    case XMPP_SE_IMPROPER_ADDR: return "improper-addressing";
    case XMPP_SE_REMOTE_CONN_FAILED: return "remote-connection-failed";
    case XMPP_SE_RESOURCE_CONSTRAINT: return "resource-constraint";
    case XMPP_SE_INTERNAL_SERVER_ERROR: return "internal-server-error";
    default: return "undefined-condition";
  }
}

// libstrophe 0.12.0–0.12.2 (Debian 12 ships 0.12.2) allocate the stream-management state
// only in xmpp_connect_client(), yet dereference it for every stanza and on every
// disconnect: a component connection crashes on its first stanza. We hand the connection a
// zeroed state (SM off) through the public xmpp_conn_set_sm_state(). Its only field we set
// is the owning context, which is the struct's first member in every release that has SM;
// the block comes from the context's own allocator, which libstrophe frees it with.
void give_component_sm_state(xmpp_ctx_t* ctx, xmpp_conn_t* conn) {
  constexpr std::size_t kGenerous = 512;  // the real struct is about 100 bytes
  void* block = pooled_calloc(kGenerous);
  std::memcpy(block, &ctx, sizeof ctx);
  if (xmpp_conn_set_sm_state(conn, static_cast<xmpp_sm_state_t*>(block)) != XMPP_EOK) {
    pooled_memory()->free(block, nullptr);
  }
}

// libstrophe 0.12.2 drops the errno of a failed TCP connect. When a connection ends
// without a cause, one short non-blocking connect tells "nothing listens" apart from
// "Prosody closed the stream". Returns 0 when the port accepts, else the errno.
// Only numeric addresses are probed: resolving a name could block the loop.
int probe_tcp(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || res == nullptr) return 0;
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int err = 0;
  if (fd >= 0) {
    if (::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, 300) == 1) {
          socklen_t len = sizeof err;
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        } else {
          err = ETIMEDOUT;
        }
      }
    }
    close(fd);
  }
  freeaddrinfo(res);
  return err;
}

Error describe_stream_error(const ComponentConfig& config, const xmpp_stream_error_t& se, bool was_connected) {
  Error why;
  why.cause = "stream error " + stream_error_name(se.type) + (se.text ? std::string(": ") + se.text : "");
  if (se.type == XMPP_SE_NOT_AUTHORIZED) {
    why.fix = "handshake refused: the secret does not match the server's for " + config.jid + " (" +
              server_setting(config.jid, "component_secret", "password:") + ")";
  } else if (se.type == XMPP_SE_HOST_UNKNOWN || se.type == XMPP_SE_IMPROPER_ADDR) {
    why.fix = "the server has no component " + config.jid + " (" + server_setting(config.jid, "", "") +
              "): check [component] jid and the server's config";
  } else if (se.type == XMPP_SE_CONFLICT) {
    why.fix = was_connected ? "another process connected as " + config.jid +
                                  " and Prosody replaced this session with it (component_conflict_resolve = "
                                  "\"kick_old\"): leave Prosody's default \"kick_new\" so that several pushgate "
                                  "nodes do not take the JID from each other in turns"
                            : "another process is already connected as " + config.jid;
  } else if (se.type == XMPP_SE_SYSTEM_SHUTDOWN) {
    why.fix = "the server is shutting down or restarting; reconnecting";
  }
  return why;
}

Error describe_socket_end(const ComponentConfig& config, int error, bool was_connected) {
  std::string where = config.host + ":" + std::to_string(config.port);
  Error why;
  if (error != 0) {
    why.cause = std::strerror(error);
    if (error == ECONNREFUSED) {
      why.fix = "nothing listens on " + where + ": is the server running with a component port " +
                std::to_string(config.port) + " (" + kComponentPortSetting + ")?";
    } else if (error == ETIMEDOUT) {
      why.fix = "no answer from " + where + ": check host, port and firewalls";
    }
  } else if (was_connected) {
    why.cause = "stream closed";
  } else {
    why.cause = "connection closed during the handshake";
    why.fix = "the server closed the stream before the handshake completed: check [component] jid and secret";
  }
  return why;
}

}  // namespace pushgate::xmpp
