// What a SIGHUP reload may change: the keys only a restart can (the component session, the
// listening sockets, the store and the push queue are built on them), kept at their running
// values in the fresh configuration and named for the log.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace pushgate {

// Sets every restart-only key of `fresh` that differs from `running` back to the running
// value and returns those keys, named as "[section] key" ("[http] listen"), in the file's
// order; empty when the reload changes none. The deploy example marks the same keys (restart).
std::vector<std::string> keep_restart_only(const Config& running, Config& fresh);

}  // namespace pushgate
