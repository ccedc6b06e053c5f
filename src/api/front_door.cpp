// The front door's thread: accept, TLS handshake, read a request within its bounds and
// deadline, hand it to a worker, write the answer, and keep or close the connection.
#include "api/front_door.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/log.hpp"

namespace pushgate::api {
namespace {

constexpr std::uint64_t kListenerId = 0;
constexpr std::uint64_t kWakeId = 1;
constexpr auto kSweepEvery = std::chrono::milliseconds(250);
constexpr auto kLingerAfterClose = std::chrono::seconds(1);  // reading what the peer still sends
constexpr std::size_t kLingerBytes = 256 * 1024;
constexpr auto kLogEvery = std::chrono::seconds(10);  // per kind of refusal

constexpr std::array<const char*, static_cast<std::size_t>(FrontDoor::Refusal::Count)> kReasons = {
    "per_address_cap",      "server_full",    "headers_too_large", "request_timeout", "tls_handshake_timeout",
    "tls_handshake_failed", "body_too_large", "length_required",   "bad_request"};

const char* reason(FrontDoor::Refusal why) {
  return kReasons[static_cast<std::size_t>(why)];
}

// The HTTP answer to a refusal, with Connection: close; empty where none fits (TLS not up).
std::string refusal_answer(FrontDoor::Refusal why, const FrontDoorLimits& limits, std::size_t per_address) {
  using R = FrontDoor::Refusal;
  int status = 0;
  const char* text = "";
  std::string error;
  switch (why) {
    case R::PerAddressCap:
      status = 429, text = "Too Many Requests";
      error = "more than " + std::to_string(per_address) +
              " connections from this address; reuse or close them, or raise [http] max_connections_per_address";
      break;
    case R::ServerFull:
      status = 503, text = "Service Unavailable";
      error = "the API has " + std::to_string(limits.max_connections) + " connections open; retry";
      break;
    case R::HeadTooLarge:
      status = 431, text = "Request Header Fields Too Large";
      error = "request header over " + std::to_string(limits.head.max_bytes / 1024) + " KiB or " +
              std::to_string(limits.head.max_fields) + " fields";
      break;
    case R::RequestTimeout:
      status = 408, text = "Request Timeout";
      error = "the request did not arrive within " + std::to_string(limits.request_deadline.count()) + " ms";
      break;
    case R::BodyTooLarge:
      status = 413, text = "Payload Too Large";
      error = "request body larger than " + std::to_string(limits.max_body / 1024) + " KiB";
      break;
    case R::LengthRequired:
      status = 411, text = "Length Required";
      error = "send the body with Content-Length, not Transfer-Encoding";
      break;
    case R::BadRequest:
      status = 400, text = "Bad Request";
      error = "Content-Length is not one number";
      break;
    default:
      return {};
  }
  std::string body = "{\"error\":\"" + error + "\"}";
  std::string retry = status == 429 || status == 503 ? "Retry-After: 1\r\n" : "";
  return "HTTP/1.1 " + std::to_string(status) + " " + text +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + retry +
         "Connection: close\r\n\r\n" + body;
}

std::pair<std::string, int> address_of(const sockaddr_storage& a) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
    port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
    port = ntohs(v6->sin6_port);
  }
  return {ip, port};
}

int listen_on(const std::string& host, int port, int& bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw std::runtime_error(host + ": " + gai_strerror(rc));
  }
  int fd = -1;
  int saved = 0;
  for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
      saved = errno;
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) throw std::runtime_error(std::strerror(saved != 0 ? saved : EADDRNOTAVAIL));
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  bound_port = address_of(a).second;
  return fd;
}

}  // namespace

FrontDoor::FrontDoor(const std::string& host, int port, SSL_CTX* tls, FrontDoorLimits limits, Serve serve)
    : limits_(limits), tls_(tls), serve_(std::move(serve)), max_per_address_(limits.max_per_address) {
  listen_fd_ = listen_on(host, port, port_);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    int saved = errno;
    for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
      if (fd >= 0) ::close(fd);
    }
    throw std::runtime_error(std::string("epoll/eventfd: ") + std::strerror(saved));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerId;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.u64 = kWakeId;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  workers_ = std::make_unique<httplib::ThreadPool>(limits_.workers);
  thread_ = std::thread([this] { run(); });
}

FrontDoor::~FrontDoor() {
  stop();
  if (thread_.joinable()) thread_.join();
  workers_->shutdown();
  for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

void FrontDoor::stop() {
  stopping_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void FrontDoor::write_metrics(metrics::Writer& w) const {
  w.family("pushgate_api_connections_refused_total", "counter",
           "API connections refused or cut off before a request reached a handler, by reason.");
  for (std::size_t i = 0; i < kReasons.size(); ++i) {
    w.sample("pushgate_api_connections_refused_total", {{"reason", kReasons[i]}}, refused_[i].load());
  }
  w.family("pushgate_api_idle_connections_closed_total", "counter",
           "Idle keep-alive API connections closed to make room for a new one.");
  w.sample("pushgate_api_idle_connections_closed_total", {}, idle_closed_.load());
  w.family("pushgate_api_connections", "gauge", "Open API connections.");
  w.sample("pushgate_api_connections", {}, static_cast<std::uint64_t>(open_.load()));
}

void FrontDoor::run() {
  std::array<epoll_event, 64> events{};
  auto next_sweep = Clock::now() + kSweepEvery;
  for (;;) {
    if (stopping_ && !stop_begun_) begin_stop();
    if (stop_begun_ && open_ == 0) break;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_sweep - Clock::now()).count();
    int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                       static_cast<int>(std::max<long>(wait, 0)));
    for (int i = 0; i < n; ++i) {
      std::uint64_t id = events[i].data.u64;
      if (id == kListenerId) {
        accept_all();
      } else if (id == kWakeId) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
        take_answers();
      } else if (auto it = connections_.find(id); it != connections_.end() && !it->second->closed) {
        on_event(*it->second);
      }
    }
    auto now = Clock::now();
    if (now >= next_sweep) {
      sweep(now);
      next_sweep = now + kSweepEvery;
    }
    for (std::uint64_t id : finished_) connections_.erase(id);
    finished_.clear();
  }
}

void FrontDoor::accept_all() {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The backlog keeps the connection; retried at the next sweep instead of spinning.
        int error = errno;
        auto now = Clock::now();
        if (accept_error_logged_ == Clock::time_point{} || now - accept_error_logged_ >= kLogEvery) {
          log::error("api_accept_failed", {{"error", std::strerror(error)}, {"fix", "raise LimitNOFILE"}});
          accept_error_logged_ = now;
        }
        accept_paused_ = true;
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
      }
      return;
    }
    Peer peer;
    std::tie(peer.ip, peer.port) = address_of(addr);
    sockaddr_storage local{};
    len = sizeof local;
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    std::tie(peer.local_ip, peer.local_port) = address_of(local);
    auto from = per_address_.find(peer.ip);
    // An address at its cap makes room by closing one of its own idle keep-alive connections
    // (a local app server's pool); only when all of them are busy is the newcomer refused.
    if (from != per_address_.end() && from->second >= max_per_address_ && !close_longest_idle(&peer.ip)) {
      refuse_at_door(fd, peer, Refusal::PerAddressCap);
      continue;
    }
    if (open_ >= limits_.max_connections && !close_longest_idle()) {
      refuse_at_door(fd, peer, Refusal::ServerFull);
      continue;
    }
    ++per_address_[peer.ip];
    ++open_;
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // a head and a body: two writes, no delayed ACK
    auto c = std::make_unique<Connection>(next_id_++, fd, std::move(peer), limits_.head);
    Connection& conn = *c;
    connections_.emplace(conn.id, std::move(c));
    if (tls_ != nullptr) {
      if (!conn.start_tls(tls_)) {
        finish(conn);
        continue;
      }
      conn.deadline = Clock::now() + limits_.tls_handshake_deadline;
      handshake(conn);
    } else {
      conn.deadline = Clock::now() + limits_.request_deadline;
      on_readable(conn);  // often the request is there already
    }
    if (!conn.closed) watch(conn);
  }
}

// Before any slot is taken: one best-effort write of the answer (it fits a new socket's
// buffer) and close. Over TLS no HTTP answer is possible before a handshake.
void FrontDoor::refuse_at_door(int fd, const Peer& peer, Refusal why) {
  note(why, peer);
  if (tls_ == nullptr) {
    std::string answer = refusal_answer(why, limits_, max_per_address_);
    [[maybe_unused]] auto n = ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::close(fd);
}

// Idle keep-alive connections are the first to go when the slots run out: they hold no
// request. The one idle the longest (of `ip`'s, when given) is closed; false when none is idle.
bool FrontDoor::close_longest_idle(const std::string* ip) {
  Connection* oldest = nullptr;
  for (auto& [id, c] : connections_) {
    if (c->closed || !c->idle || c->phase != Connection::Phase::Reading) continue;
    if (ip != nullptr && c->peer.ip != *ip) continue;
    if (oldest == nullptr || c->deadline < oldest->deadline) oldest = c.get();
  }
  if (oldest == nullptr) return false;
  ++idle_closed_;
  finish(*oldest);
  return true;
}

void FrontDoor::on_event(Connection& c) {
  using P = Connection::Phase;
  using Io = Connection::Io;
  // Errors and hang-ups show as a failed read or write.
  switch (c.phase) {
    case P::Handshake:
      handshake(c);
      break;
    case P::Reading:
      if (c.writing() && c.flush() == Io::Closed) return finish(c);  // a 100 Continue
      on_readable(c);
      break;
    case P::Writing:
      if (c.flush() == Io::Closed) return finish(c);
      if (!c.writing()) on_written(c);
      break;
    case P::Lingering:
      linger(c);
      break;
    case P::Serving:
      break;
  }
  if (!c.closed) watch(c);
}

void FrontDoor::handshake(Connection& c) {
  switch (c.handshake()) {
    case Connection::Io::Done:
      c.phase = Connection::Phase::Reading;
      c.deadline = Clock::now() + limits_.request_deadline;
      on_readable(c);
      break;
    case Connection::Io::Blocked:
      break;
    case Connection::Io::Closed:
      note(Refusal::TlsHandshakeFailed, c.peer);
      finish(c);
      break;
  }
}

void FrontDoor::on_readable(Connection& c) {
  // Enough for the largest request that may be handed over; more waits in the socket.
  if (c.read_some(limits_.head.max_bytes + limits_.max_body) == Connection::Io::Closed) {
    // A client that sent its request and closed its side (shutdown(SHUT_WR), `nc -N`, a TLS
    // close_notify) still gets its answer; only when nothing complete was read is it over.
    c.peer_done = true;
  }
  advance(c);
  if (c.peer_done && !c.closed && c.phase == Connection::Phase::Reading) finish(c);
}

// Decides what the bytes read so far are: not yet a request, a refusal, or a request to hand over.
void FrontDoor::advance(Connection& c) {
  if (c.in.empty()) return;
  if (c.idle) {  // the first byte of the next request starts its deadline
    c.idle = false;
    c.deadline = Clock::now() + limits_.request_deadline;
  }
  RequestHead head = c.scanner.scan(c.in);
  switch (head.state) {
    case HeadState::Incomplete:
      return;
    case HeadState::TooLarge:
    case HeadState::TooManyFields:
      return refuse(c, Refusal::HeadTooLarge);
    case HeadState::BadLength:
      return refuse(c, Refusal::BadRequest);
    case HeadState::Complete:
      break;
  }
  if (head.chunked) return refuse(c, Refusal::LengthRequired);
  if (head.content_length > limits_.max_body) return refuse(c, Refusal::BodyTooLarge);
  std::size_t need = head.head_bytes + static_cast<std::size_t>(head.content_length);
  bool expects = head.expect_end > head.expect_begin;
  if (c.in.size() < need) {
    if (expects && !c.continue_sent) {
      c.continue_sent = true;
      c.out += "HTTP/1.1 100 Continue\r\n\r\n";
      if (c.flush() == Connection::Io::Closed) finish(c);
    }
    return;
  }
  std::string request = c.in.substr(0, need);
  c.in.erase(0, need);
  if (c.in.empty()) std::string().swap(c.in);  // an idle connection keeps no buffer
  // Answered here already: httplib must not send a second 100 Continue after the body.
  if (expects) request.erase(head.expect_begin, head.expect_end - head.expect_begin);
  hand_over(c, std::move(request));
}

void FrontDoor::hand_over(Connection& c, std::string request) {
  c.phase = Connection::Phase::Serving;
  c.deadline = Clock::time_point::max();
  c.scanner.reset();
  c.continue_sent = false;
  workers_->enqueue(
      [this, id = c.id, request = std::move(request), peer = c.peer, last = stopping_.load() || c.peer_done]() mutable {
        Answer answer;
        try {
          answer = serve_(std::move(request), peer, last);
        } catch (...) {
          answer = {};  // closes the connection
        }
        {
          std::lock_guard lock(answers_mutex_);
          answers_.emplace_back(id, std::move(answer));
        }
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
      });
}

void FrontDoor::take_answers() {
  std::vector<std::pair<std::uint64_t, Answer>> taken;
  {
    std::lock_guard lock(answers_mutex_);
    taken.swap(answers_);
  }
  for (auto& [id, answer] : taken) {
    auto it = connections_.find(id);
    if (it == connections_.end() || it->second->closed) continue;
    Connection& c = *it->second;
    if (answer.bytes.empty()) {
      finish(c);
      continue;
    }
    c.out.erase(0, c.out_done);
    c.out_done = 0;
    c.out += answer.bytes;
    c.close_after_write = !answer.keep_alive || stop_begun_ || c.peer_done;
    c.phase = Connection::Phase::Writing;
    c.deadline = Clock::now() + limits_.write_deadline;
    if (c.flush() == Connection::Io::Closed) {
      finish(c);
      continue;
    }
    if (!c.writing()) on_written(c);
    if (!c.closed) watch(c);
  }
}

void FrontDoor::on_written(Connection& c) {
  c.out.clear();
  c.out_done = 0;
  if (c.close_after_write) {
    // Close for writing and read what the peer still sends for a moment, so our answer is
    // not lost to a reset caused by its unread bytes.
    c.close_for_writing();
    c.deadline = Clock::now() + kLingerAfterClose;
    linger(c);
    return;
  }
  c.phase = Connection::Phase::Reading;
  c.idle = true;
  c.deadline = Clock::now() + limits_.keep_alive_idle;
  on_readable(c);  // what the socket holds, after a pipelined request read with the last one
}

void FrontDoor::refuse(Connection& c, Refusal why) {
  note(why, c.peer);
  std::string answer = refusal_answer(why, limits_, max_per_address_);
  if (answer.empty() || c.phase == Connection::Phase::Handshake) {
    finish(c);
    return;
  }
  c.in.clear();
  c.out.erase(0, c.out_done);
  c.out_done = 0;
  c.out += answer;
  c.close_after_write = true;
  c.phase = Connection::Phase::Writing;
  c.deadline = Clock::now() + limits_.write_deadline;
  if (c.flush() == Connection::Io::Closed) {
    finish(c);
    return;
  }
  if (!c.writing()) on_written(c);
}

void FrontDoor::linger(Connection& c) {
  if (c.drain(kLingerBytes) == Connection::Io::Closed) finish(c);
}

void FrontDoor::finish(Connection& c) {
  if (c.closed) return;
  c.closed = true;  // the socket closes when the connection is erased, at the end of this turn
  if (c.watched != 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  c.watched = 0;
  if (auto it = per_address_.find(c.peer.ip); it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  --open_;
  finished_.push_back(c.id);
}

void FrontDoor::sweep(Clock::time_point now) {
  using P = Connection::Phase;
  if (accept_paused_ && !stop_begun_) {
    accept_paused_ = false;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerId;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  }
  for (auto& [id, conn] : connections_) {
    Connection& c = *conn;
    if (c.closed || now < c.deadline) continue;
    if (c.phase == P::Handshake) {
      note(Refusal::TlsHandshakeTimeout, c.peer);
      finish(c);
    } else if (c.phase == P::Reading && !c.idle) {
      refuse(c, Refusal::RequestTimeout);
      if (!c.closed) watch(c);
    } else {
      finish(c);  // idle past keep_alive_idle, an answer not taken, a linger over
    }
  }
}

void FrontDoor::begin_stop() {
  stop_begun_ = true;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  ::close(listen_fd_);
  listen_fd_ = -1;
  for (auto& [id, c] : connections_) {
    if (c->closed) continue;
    if (c->phase == Connection::Phase::Serving || c->phase == Connection::Phase::Writing) {
      c->close_after_write = true;
    } else {
      finish(*c);
    }
  }
}

// Registers what the connection waits for now; nothing while a worker has it, so a hang-up
// cannot wake the thread over and over.
void FrontDoor::watch(Connection& c) {
  std::uint32_t want = c.events();
  if (want == c.watched) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c.id;
  if (want == 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  } else {
    epoll_ctl(epoll_fd_, c.watched == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev);
  }
  c.watched = want;
}

// Counts every refusal; logs the first of a kind and then at most one per kLogEvery, with the
// client's address and how many went unlogged. Never a byte of what the client sent.
void FrontDoor::note(Refusal why, const Peer& peer) {
  auto i = static_cast<std::size_t>(why);
  ++refused_[i];
  LogGate& gate = log_gates_[i];
  auto now = Clock::now();
  if (gate.last != Clock::time_point{} && now - gate.last < kLogEvery) {
    ++gate.suppressed;
    return;
  }
  log::warn("api_connection_refused",
            {{"reason", reason(why)}, {"client", peer.ip}, {"unlogged_since_last", std::to_string(gate.suppressed)}});
  gate.last = now;
  gate.suppressed = 0;
}

}  // namespace pushgate::api
