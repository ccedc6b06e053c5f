// The bound on pushes the providers hold at once ([push] queue_size): past it a push is
// answered QueueFull at once rather than queue without end. Loop thread only.
#pragma once

#include <cstddef>

namespace pushgate {

class InFlight {
 public:
  explicit InFlight(std::size_t capacity) : capacity_(capacity) {}
  // Takes a place for one push; false when all are taken.
  bool try_acquire() {
    if (count_ >= capacity_) return false;
    ++count_;
    return true;
  }
  // The push a place was taken for has its outcome.
  void release() { --count_; }
  std::size_t count() const { return count_; }
  std::size_t capacity() const { return capacity_; }

 private:
  std::size_t capacity_;
  std::size_t count_ = 0;
};

}  // namespace pushgate
