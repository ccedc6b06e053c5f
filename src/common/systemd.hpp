// systemd's service protocol (sd_notify): READY/RELOADING/STOPPING/STATUS and the watchdog.
// Every call is a no-op when systemd did not start us with NOTIFY_SOCKET, so the daemon
// runs the same from a shell, a test or another supervisor.
#pragma once

#include <chrono>
#include <string>

namespace pushgate::systemd {

// Sends one state line, e.g. "READY=1\nSTATUS=…". Failures are logged once, never thrown.
void notify(const std::string& state);

// The interval at which to send WATCHDOG=1: half of WatchdogSec, zero when the unit has none.
std::chrono::milliseconds watchdog_interval();

}  // namespace pushgate::systemd
