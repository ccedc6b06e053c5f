// The component session and the legacy listener as /health and /metrics read them: api/
// knows neither, only the interfaces in api/status_sources.hpp, which these adapt them to.
#pragma once

#include <chrono>

#include "api/status_sources.hpp"
#include "legacy/legacy_listener.hpp"
#include "xmpp/component_session.hpp"

namespace pushgate {

class SessionStatus final : public api::ComponentStatus {
 public:
  explicit SessionStatus(const xmpp::ComponentSession& session) : session_(session) {}
  api::ComponentState component_state() const override {
    api::ComponentRole role = api::ComponentRole::Connecting;
    switch (session_.role()) {
      case xmpp::SessionRole::Active: role = api::ComponentRole::Active; break;
      case xmpp::SessionRole::Standby: role = api::ComponentRole::Standby; break;
      case xmpp::SessionRole::Connecting: break;
    }
    return {session_.connected(), session_.connected_since(), session_.reconnects(), role, session_.standby_since()};
  }

 private:
  const xmpp::ComponentSession& session_;
};

class LegacyStatus final : public api::ListenerStatus {
 public:
  explicit LegacyStatus(const legacy::LegacyListener& listener) : listener_(listener) {}
  void write_metrics(metrics::Writer& w) const override { listener_.write_metrics(w); }
  int port() const override { return listener_.port(); }
  std::int64_t certificate_not_after() const override { return listener_.certificate_not_after(); }

 private:
  const legacy::LegacyListener& listener_;
};

}  // namespace pushgate
