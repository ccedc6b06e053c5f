// sd_notify through libsystemd.
#include "common/systemd.hpp"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/log.hpp"

namespace pushgate::systemd {

void notify(const std::string& state) {
  int rc = sd_notify(0, state.c_str());
  static bool told = false;
  if (rc < 0 && !told) {
    told = true;
    log::warn("sd_notify_failed", {{"error", std::strerror(-rc)},
                                   {"cause",
                                    "NOTIFY_SOCKET is set but cannot be written; systemd will not see "
                                    "READY=1 and stops the unit after TimeoutStartSec"}});
  }
}

std::chrono::milliseconds watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::max<std::uint64_t>(usec / 2000, 1));
}

}  // namespace pushgate::systemd
