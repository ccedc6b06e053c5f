// The log provider: JSON records written once per loop turn (files) or by a writer thread
// (pipes, sockets, terminals), so a slow reader never blocks the event loop.
#include "push/log_provider.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/json_text.hpp"
#include "common/log.hpp"
#include "push/payload.hpp"

namespace pushgate {

LogProvider::LogProvider(EventLoop& loop, const std::string& output, std::size_t capacity)
    : loop_(loop), output_name_(output.empty() ? "stdout" : output), capacity_(capacity) {
  if (output.empty()) {
    fd_ = STDOUT_FILENO;
  } else {
    // O_NONBLOCK so that a FIFO without a reader fails here instead of hanging start-up.
    fd_ = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0640);
    if (fd_ < 0 && errno == ENXIO) {
      throw std::runtime_error("log provider output " + output +
                               " is a FIFO with no reader; start the reader first or use a file");
    }
    if (fd_ < 0) {
      throw std::runtime_error("log provider output " + output + " cannot be opened: " + std::strerror(errno) +
                               "; check the directory exists and pushgate may write there");
    }
    owns_fd_ = true;
    // Writes block from here on; only the writer thread writes to outputs that can stall.
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  }
  struct stat st{};
  if (fstat(fd_, &st) == 0) {
    bool dev_null = S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
    inline_ = S_ISREG(st.st_mode) || dev_null;
  }
  if (!inline_) writer_ = std::thread([this] { writer_main(); });
}

LogProvider::~LogProvider() {
  if (writer_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_one();
    writer_.join();
  }
  if (owns_fd_) ::close(fd_);
}

std::string LogProvider::write_out(const std::string& data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) return "short write";
      char buf[128];
      return strerror_r(errno, buf, sizeof buf);  // the writer thread calls this too: not strerror()
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return "";
}

std::string LogProvider::record(const PushJob& job) {
  std::string out;
  append_record(out, job);
  return out;
}

void LogProvider::append_record(std::string& out, const PushJob& job) {
  // Built by hand, straight into the output buffer: this runs once per push, and a JSON
  // tree would cost more than the push.
  const std::size_t start = out.size();
  auto key = [&out, start](const char* k) {
    out += out.size() > start + 1 ? ",\"" : "\"";
    out += k;
    out += "\":";
  };
  auto str = [&out, &key](const char* k, std::string_view v) {
    key(k);
    append_json_string(out, v);
  };
  out += '{';
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  char ts[32];
  std::snprintf(ts, sizeof ts, "%lld.%03lld", static_cast<long long>(ms / 1000), static_cast<long long>(ms % 1000));
  key("ts");
  out += ts;
  str("app", job.app->name);
  str("service", "log");
  str("kind", to_string(job.kind));
  str("token", log::redact(job.request.node));
  str("from", job.request.sender_domain);
  // What a real provider would have been asked to deliver.
  str("priority", delivery_priority(job));
  key("ttl");
  out += std::to_string(default_ttl_seconds(job.kind));
  key("data");
  out += '{';
  // Who the push is for and from (a bare JID for Tigase's clients, p2's account hash) is
  // shown like the token: its last characters only. The record goes to stdout, the journal.
  std::vector<DataField> data = push_data(job);
  for (DataField& f : data) {
    if (f.key == "account" || f.key == "channel" || f.key == "sender" || f.key == "nickname") {
      f.value = log::redact(f.value);
      f.number = false;
    }
  }
  append_data_members(out, data, true);
  out += '}';
  key("sent");
  out += "false";
  str("note", "recorded by the log provider; nothing was sent to a device");
  out += '}';
}

void LogProvider::send(PushJob job, Completion done) {
  if (inline_) {
    if (pending_.size() >= capacity_) {
      loop_.defer([done = std::move(done)] { done(Outcome{OutcomeKind::QueueFull, "log provider queue is full"}); });
      return;
    }
    if (pending_.empty()) loop_.defer([this] { flush_inline(); });
    append_record(buffer_, job);
    buffer_ += '\n';
    pending_.push_back(std::move(done));
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() < capacity_) {
      bool was_empty = queue_.empty();
      queue_.push_back(Entry{std::move(job), std::move(done)});
      // The writer drains the whole queue per wake-up: only an empty queue needs a wake-up.
      if (was_empty) cv_.notify_one();
      return;
    }
  }
  // Full: answer on the loop thread, never from inside send().
  loop_.post([done = std::move(done)] { done(Outcome{OutcomeKind::QueueFull, "log provider queue is full"}); });
}

Outcome LogProvider::write_records(const std::string& records) {
  std::string why = write_out(records);
  if (why.empty()) return Outcome{OutcomeKind::Delivered, "recorded"};
  log::error("log_provider_write_failed", {{"output", output_name_}, {"error", why}});
  return Outcome{OutcomeKind::Retry, "log output write failed: " + why};
}

void LogProvider::flush_inline() {
  Outcome outcome = write_records(buffer_);
  buffer_.clear();
  std::vector<Completion> dones;
  dones.swap(pending_);
  for (const auto& d : dones) d(outcome);
}

void LogProvider::writer_main() {
  std::vector<Entry> batch;
  std::string buf;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
    }
    buf.clear();
    for (const Entry& e : batch) {
      append_record(buf, e.job);
      buf += '\n';
    }
    Outcome outcome = write_records(buf);
    std::vector<Completion> dones;
    dones.reserve(batch.size());
    for (Entry& e : batch) dones.push_back(std::move(e.done));
    batch.clear();
    loop_.post([dones = std::move(dones), outcome]() {
      for (const auto& d : dones) d(outcome);
    });
  }
}

}  // namespace pushgate
