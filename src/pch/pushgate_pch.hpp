// Precompiled for libpushgate (meson cpp_pch): the heavy headers many sources include.
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>
