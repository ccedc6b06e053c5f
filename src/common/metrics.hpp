// Prometheus text exposition (format 0.0.4): a writer that emits HELP/TYPE once per family
// and escapes label values, and a fixed-bucket histogram. Plain values, not shared between
// threads: each /metrics answer fills a Writer of its own.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace pushgate::metrics {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class Writer {
 public:
  // Starts a family: "# HELP name help" and "# TYPE name type" (counter, gauge, histogram).
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, Labels labels, double value);
  void sample(std::string_view name, Labels labels, std::uint64_t value);
  const std::string& text() const { return out_; }

 private:
  void labels(Labels labels, std::string_view extra_key = {}, std::string_view extra_value = {});
  std::string out_;
};

// Latency in seconds over fixed buckets from 1 ms to 30 s.
class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,   0.25,   0.5,   1.0,  5.0,   30.0};
  void observe(double seconds);
  // Writes name_bucket{…,le=…}, name_sum and name_count (the family must be started).
  void write(Writer& w, std::string_view name, Labels labels) const;
  std::uint64_t count() const { return count_; }

 private:
  std::array<std::uint64_t, kBounds.size()> buckets_{};  // per bucket, not cumulative
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace pushgate::metrics
