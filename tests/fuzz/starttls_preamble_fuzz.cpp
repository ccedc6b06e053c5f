// libFuzzer target: arbitrary bytes as what a client sends before TLS, fed to the legacy
// listener's parser in chunks whose sizes come from the input. It must end in a step, never a
// crash, a hang or an exception; after Proceed the leftover must be a suffix of the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "legacy/starttls_preamble.hpp"

using pushgate::legacy::StarttlsPreamble;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t chunk = 1 + data[0] % 64;
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  StarttlsPreamble p(size % 2 ? std::vector<std::string>{"example.org"} : std::vector<std::string>{}, 2048);
  std::size_t at = 0;
  while (at < input.size()) {
    std::string part = input.substr(at, chunk);
    at += part.size();
    StarttlsPreamble::Step s = p.feed(part);
    if (s == StarttlsPreamble::Step::StreamHeader) s = p.feed("");
    if (s == StarttlsPreamble::Step::Proceed) {
      const std::string& left = p.leftover();
      if (left.size() > part.size() || part.compare(part.size() - left.size(), left.size(), left) != 0) std::abort();
      break;
    }
    if (s == StarttlsPreamble::Step::Error) break;
  }
  return 0;
}
