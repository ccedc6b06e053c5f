// Prometheus text format writing.
#include "common/metrics.hpp"

#include <cstdio>
#include <vector>

namespace pushgate::metrics {

void Writer::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void Writer::labels(Labels labels, std::string_view extra_key, std::string_view extra_value) {
  if (labels.size() == 0 && extra_key.empty()) return;
  out_ += '{';
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    for (char c : v) {
      if (c == '\\' || c == '"') out_ += '\\';
      if (c == '\n') {
        out_ += "\\n";
        continue;
      }
      out_ += c;
    }
    out_ += '"';
  };
  for (const auto& [k, v] : labels) one(k, v);
  if (!extra_key.empty()) one(extra_key, extra_value);
  out_ += '}';
}

void Writer::sample(std::string_view name, Labels l, double value) {
  out_ += name;
  labels(l);
  char buf[64];
  std::snprintf(buf, sizeof buf, " %.9g\n", value);
  out_ += buf;
}

void Writer::sample(std::string_view name, Labels l, std::uint64_t value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void Histogram::observe(double seconds) {
  ++count_;
  sum_ += seconds;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) {
      ++buckets_[i];
      return;
    }
  }
}

void Histogram::write(Writer& w, std::string_view name, Labels labels) const {
  std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  std::vector<std::pair<std::string_view, std::string_view>> l(labels.begin(), labels.end());
  char le[32];
  for (std::size_t i = 0; i <= kBounds.size(); ++i) {
    if (i < kBounds.size()) {
      cumulative += buckets_[i];
      std::snprintf(le, sizeof le, "%g", kBounds[i]);
    } else {
      cumulative = count_;
      std::snprintf(le, sizeof le, "+Inf");
    }
    // Labels are few; rebuild the list with le appended.
    switch (l.size()) {
      case 0: w.sample(bucket, {{"le", le}}, cumulative); break;
      case 1: w.sample(bucket, {l[0], {"le", le}}, cumulative); break;
      case 2: w.sample(bucket, {l[0], l[1], {"le", le}}, cumulative); break;
      default: w.sample(bucket, {l[0], l[1], l[2], {"le", le}}, cumulative); break;
    }
  }
  w.sample(std::string(name) + "_sum", labels, sum_);
  w.sample(std::string(name) + "_count", labels, count_);
}

}  // namespace pushgate::metrics
