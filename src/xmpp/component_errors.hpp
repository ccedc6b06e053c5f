// Why a component connection was refused or ended, as cause and fix for the operator, and
// the libstrophe workaround every component connection needs. Shared by the daemon's
// session and --check --online, so both name a wrong secret or JID the same way.
#pragma once

#include <strophe.h>

#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "config/config.hpp"

namespace pushgate::xmpp {

// Where Prosody and ejabberd set the component port, for fix lines that cannot tell which.
inline constexpr const char* kComponentPortSetting =
    "Prosody: component_ports; ejabberd: port: of the listen: entry with module: ejabberd_service";

// RFC 6120's name of a stream error condition ("not-authorized").
std::string stream_error_name(xmpp_error_type_t type);

// The cause and fix of a stream error from the server (wrong secret, unknown component
// name, conflict, shutdown). For conflict, the fix depends on whether the session had been
// accepted (`was_connected`: another process replaced us) or not (another holds the JID).
Error describe_stream_error(const ComponentConfig& config, const xmpp_stream_error_t& error, bool was_connected);

// The cause and fix of a connection that ended without a stream error: `error` is the errno
// (0 when libstrophe gave none).
Error describe_socket_end(const ComponentConfig& config, int error, bool was_connected);

// libstrophe 0.12.2 drops the errno of a failed TCP connect. One short non-blocking connect
// (at most 300 ms) tells "nothing listens" apart from "the server closed the stream". Returns
// 0 when the port accepts (or `host` is not a numeric address: resolving could block), else
// the errno.
int probe_tcp(const std::string& host, std::uint16_t port);

// libstrophe 0.12.0–0.12.2 crash a component connection on its first stanza unless it is
// given a stream-management state; call after xmpp_conn_new() on a context created with
// pooled_memory() (xmpp/stanza_pool.hpp).
void give_component_sm_state(xmpp_ctx_t* ctx, xmpp_conn_t* conn);

}  // namespace pushgate::xmpp
