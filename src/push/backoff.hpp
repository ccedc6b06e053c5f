// The retry delay the APNs and FCM providers (RetryingProvider) use between attempts of one push.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace pushgate {

// Delay before retry `attempt` (1 = first retry): uniformly random in [base/2, base],
// base = 100 ms × 2^(attempt-1), capped at 5 s. Pure given the generator.
inline std::chrono::milliseconds retry_backoff(unsigned attempt, std::mt19937& rng) {
  std::int64_t base = 100;
  for (unsigned i = 1; i < attempt && base < 5000; ++i) base *= 2;
  if (base > 5000) base = 5000;
  std::uniform_int_distribution<std::int64_t> d(base / 2, base);
  return std::chrono::milliseconds(d(rng));
}

}  // namespace pushgate
