// A file descriptor with one owner: closed when the owner is destroyed or puts another in its
// place, moved but never copied, so no path of the legacy listener leaks or closes one twice.
// And where the listener's sockets live: above the descriptors select() can watch.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <utility>

namespace pushgate::legacy {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}  // takes ownership; a negative value means none
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }  // -1 when none
  explicit operator bool() const { return fd_ >= 0; }
  // Closes the one held (if any) and holds `fd` instead.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Moves a descriptor to 1024 or above and returns it (the same one when it cannot). libstrophe
// (the component session) waits with select(), which cannot watch a descriptor past
// FD_SETSIZE (1024): with thousands of relayed connections in the low numbers, its next socket
// would abort the process. The listener's descriptors live above; the low ones stay for the rest.
inline int move_high(int fd) {
  if (fd < 0 || fd >= 1024) return fd;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 1024);
  if (high < 0) return fd;  // no room above (a low RLIMIT_NOFILE): keep it where it is
  ::close(fd);
  return high;
}

}  // namespace pushgate::legacy
