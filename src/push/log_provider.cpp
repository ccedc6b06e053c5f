// The log provider: JSON records written by a writer thread, so a slow output never
// blocks the event loop.
#include "push/log_provider.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/log.hpp"
#include "push/payload.hpp"

namespace pushgate {

LogProvider::LogProvider(EventLoop& loop, const std::string& output, std::size_t capacity)
    : loop_(loop), output_name_(output.empty() ? "stdout" : output), capacity_(capacity) {
  if (output.empty()) {
    out_ = stdout;
  } else {
    int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
      throw std::runtime_error("log provider output " + output + " cannot be opened: " + std::strerror(errno) +
                               "; check the directory exists and pushgate may write there");
    }
    out_ = ::fdopen(fd, "a");
    owns_out_ = true;
  }
  writer_ = std::thread([this] { writer_main(); });
}

LogProvider::~LogProvider() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_one();
  writer_.join();
  if (owns_out_) std::fclose(out_);
}

std::string LogProvider::record(const PushJob& job) {
  nlohmann::json j;
  auto now = std::chrono::system_clock::now();
  j["ts"] = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() / 1000.0;
  j["app"] = job.app->name;
  j["service"] = "log";
  j["kind"] = to_string(job.kind);
  j["token"] = log::redact(job.request.node);
  j["from"] = job.request.sender_domain;
  // What a real provider would have been asked to deliver.
  j["priority"] = delivery_priority(job);
  j["ttl"] = default_ttl_seconds(job.kind);
  j["data"] = push_payload(job);
  j["sent"] = false;
  j["note"] = "recorded by the log provider; nothing was sent to a device";
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void LogProvider::send(PushJob job, Completion done) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() < capacity_) {
      queue_.push_back(Entry{std::move(job), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  // Full: answer on the loop thread, never from inside send().
  loop_.post([done = std::move(done)] { done(Outcome{OutcomeKind::QueueFull, "log provider queue is full"}); });
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
      buf += record(e.job);
      buf += '\n';
    }
    bool ok = std::fwrite(buf.data(), 1, buf.size(), out_) == buf.size() && std::fflush(out_) == 0;
    Outcome outcome{OutcomeKind::Delivered, "recorded"};
    if (!ok) {
      std::string why = std::strerror(errno);
      std::clearerr(out_);
      log::error("log_provider_write_failed", {{"output", output_name_}, {"error", why}});
      outcome = Outcome{OutcomeKind::Retry, "log output write failed: " + why};
    }
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
