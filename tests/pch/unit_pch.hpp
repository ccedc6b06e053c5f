// Precompiled for the unit tests (meson cpp_pch): the heavy headers most test files include.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>
