// libFuzzer target: arbitrary bytes as a TOML configuration. Any input must end in a
// Config or a ConfigError, never a crash or another exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    pushgate::parse_config(text, "fuzz.toml");
  } catch (const pushgate::ConfigError&) {
  }
  return 0;
}
