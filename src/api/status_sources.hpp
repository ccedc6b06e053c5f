// What /health and /metrics need from the parts outside the push pipeline, as two small
// interfaces: daemon/status_adapters.hpp adapts the XMPP component session and the legacy TLS
// listener to them, so api/ depends on neither.
#pragma once

#include <chrono>
#include <cstdint>

#include "common/metrics.hpp"

namespace pushgate::api {

// What the process is to Prosody: serving the component JID (active), standing by while
// another pushgate node serves it (Prosody refused us with `conflict`), or neither yet
// (connecting, or retrying after a failure).
enum class ComponentRole { Connecting, Active, Standby };
const char* to_string(ComponentRole role);

// The component session with Prosody, as /health and /metrics report it.
struct ComponentState {
  bool connected = false;
  std::chrono::system_clock::time_point since{};  // when Prosody accepted the session (while connected)
  std::uint64_t reconnects = 0;                   // sessions re-established after a loss
  ComponentRole role = ComponentRole::Connecting; // Active whenever connected
  std::chrono::system_clock::time_point standby_since{};  // when the standby began (while Standby)
};
// The role /health and /metrics report: Active while connected, whatever `role` says.
ComponentRole effective_role(const ComponentState& state);

class ComponentStatus {
 public:
  virtual ~ComponentStatus() = default;
  // Loop thread.
  virtual ComponentState component_state() const = 0;
};

// The legacy TLS listener: its metric families and its port. Thread-safe: the loop (/metrics
// of the HTTP API) and the metrics server's workers call it.
class ListenerStatus {
 public:
  virtual ~ListenerStatus() = default;
  virtual void write_metrics(metrics::Writer& w) const = 0;
  virtual int port() const = 0;
  // The notAfter (epoch seconds) of the certificate it presents now; a reload may change it.
  virtual std::int64_t certificate_not_after() const = 0;
};

}  // namespace pushgate::api
