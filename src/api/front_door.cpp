// The front door on the loop: accept, TLS handshake, read a request within its bounds and
// deadline, hand it on, write the answer, and keep or close the connection.
#include "api/front_door.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/log.hpp"

namespace pushgate::api {
namespace {

constexpr auto kAcceptPause = std::chrono::milliseconds(250);  // out of file descriptors
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

FrontDoor::FrontDoor(EventLoop& loop, const std::string& host, int port, SSL_CTX* tls, FrontDoorLimits limits,
                     OnRequest on_request)
    : loop_(loop),
      limits_(limits),
      tls_(tls),
      on_request_(std::move(on_request)),
      listener_(loop, [this](int) { accept_all(); }),
      max_per_address_(limits.max_per_address) {
  listen_fd_ = listen_on(host, port, port_);
  if (!listener_.watch(listen_fd_, UV_READABLE)) {
    ::close(listen_fd_);
    throw std::runtime_error("the event loop cannot watch the listening socket");
  }
}

FrontDoor::~FrontDoor() {
  alive_.reset();
  if (accept_timer_ != 0) loop_.cancel(accept_timer_);
  listener_.stop();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (auto& [id, c] : connections_) {
    if (c->timer != 0) loop_.cancel(c->timer);
    if (c->phase == Connection::Phase::Writing) c->flush();  // one last try: answers are small
  }
  // The connections stop their watches and close their sockets as they go.
}

FrontDoor::Connection* FrontDoor::find(std::uint64_t id) {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.get();
}

void FrontDoor::write_metrics(metrics::Writer& w) const {
  w.family("pushgate_api_connections_refused_total", "counter",
           "API connections refused or cut off before a request reached a handler, by reason.");
  for (std::size_t i = 0; i < kReasons.size(); ++i) {
    w.sample("pushgate_api_connections_refused_total", {{"reason", kReasons[i]}}, refused_[i]);
  }
  w.family("pushgate_api_idle_connections_closed_total", "counter",
           "Idle keep-alive API connections closed to make room for a new one.");
  w.sample("pushgate_api_idle_connections_closed_total", {}, idle_closed_);
  w.family("pushgate_api_connections", "gauge", "Open API connections.");
  w.sample("pushgate_api_connections", {}, static_cast<std::uint64_t>(open_));
}

void FrontDoor::accept_all() {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The backlog keeps the connection; retried after a pause instead of spinning.
        int error = errno;
        auto now = Clock::now();
        if (accept_error_logged_ == Clock::time_point{} || now - accept_error_logged_ >= kLogEvery) {
          log::error("api_accept_failed", {{"error", std::strerror(error)}, {"fix", "raise LimitNOFILE"}});
          accept_error_logged_ = now;
        }
        listener_.watch(listen_fd_, 0);
        if (accept_timer_ == 0) {
          accept_timer_ = loop_.call_after(kAcceptPause, [this] {
            accept_timer_ = 0;
            resume_accepting();
          });
        }
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
    std::uint64_t id = next_id_++;
    auto c = std::make_unique<Connection>(loop_, id, fd, std::move(peer), limits_.head,
                                          [this, id](int) { on_event(id); });
    Connection& conn = *c;
    connections_.emplace(id, std::move(c));
    if (tls_ != nullptr) {
      if (!conn.start_tls(tls_)) {
        finish(conn);
        continue;
      }
      set_deadline(conn, Clock::now() + limits_.tls_handshake_deadline);
      handshake(conn);
    } else {
      set_deadline(conn, Clock::now() + limits_.request_deadline);
      on_readable(conn);  // often the request is there already
    }
    if (!conn.closed) watch(conn);
  }
}

void FrontDoor::resume_accepting() {
  if (stopping_) return;
  listener_.watch(listen_fd_, UV_READABLE);
  accept_all();
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
    if (!c->idle || c->phase != Connection::Phase::Reading) continue;
    if (ip != nullptr && c->peer.ip != *ip) continue;
    if (oldest == nullptr || c->deadline < oldest->deadline) oldest = c.get();
  }
  if (oldest == nullptr) return false;
  ++idle_closed_;
  finish(*oldest);
  return true;
}

void FrontDoor::on_event(std::uint64_t id) {
  using P = Connection::Phase;
  using Io = Connection::Io;
  Connection* found = find(id);
  if (found == nullptr) return;
  Connection& c = *found;
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
      set_deadline(c, Clock::now() + limits_.request_deadline);
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

// Decides what the bytes read so far are: not yet a request, a refusal, or a request to hand on.
void FrontDoor::advance(Connection& c) {
  if (c.in.empty()) return;
  if (c.idle) {  // the first byte of the next request starts its deadline
    c.idle = false;
    set_deadline(c, Clock::now() + limits_.request_deadline);
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
  std::size_t head_bytes = head.head_bytes;
  // Answered here already: httplib must not send a second 100 Continue after the body.
  if (expects) {
    request.erase(head.expect_begin, head.expect_end - head.expect_begin);
    head_bytes -= head.expect_end - head.expect_begin;
  }
  hand_over(c, std::move(request), head_bytes);
}

void FrontDoor::hand_over(Connection& c, std::string request, std::size_t head_bytes) {
  c.phase = Connection::Phase::Serving;
  set_deadline(c, Clock::time_point::max());
  c.scanner.reset();
  c.continue_sent = false;
  Request r{c.id, std::move(request), head_bytes, c.peer, stopping_ || c.peer_done};
  try {
    on_request_(std::move(r));  // may answer() at once
  } catch (const std::exception& e) {
    log::error("api_exception", {{"error", e.what()}});
    answer(c.id, {});  // closes the connection
  }
}

void FrontDoor::answer(std::uint64_t connection, Answer answer) {
  Connection* found = find(connection);
  if (found == nullptr || found->phase != Connection::Phase::Serving) return;
  Connection& c = *found;
  if (answer.bytes.empty()) return finish(c);
  c.out.erase(0, c.out_done);  // what is left of a 100 Continue goes first
  c.out_done = 0;
  c.out += answer.bytes;
  c.close_after_write = !answer.keep_alive || stopping_ || c.peer_done;
  c.phase = Connection::Phase::Writing;
  set_deadline(c, Clock::now() + limits_.write_deadline);
  if (c.flush() == Connection::Io::Closed) return finish(c);
  if (!c.writing()) on_written(c);
  if (!c.closed) watch(c);
}

// The next request on a kept connection whose bytes were read already: looked at after the
// turn's callbacks, so an answer given during its own hand-over never nests another one.
void FrontDoor::resume(std::uint64_t id) {
  Connection* c = find(id);
  if (c == nullptr || c->phase != Connection::Phase::Reading) return;
  on_readable(*c);
  if (!c->closed) watch(*c);
}

void FrontDoor::on_written(Connection& c) {
  c.out.clear();
  c.out_done = 0;
  if (c.close_after_write) {
    // Close for writing and read what the peer still sends for a moment, so our answer is
    // not lost to a reset caused by its unread bytes.
    c.close_for_writing();
    set_deadline(c, Clock::now() + kLingerAfterClose);
    linger(c);
    return;
  }
  c.phase = Connection::Phase::Reading;
  c.idle = true;
  set_deadline(c, Clock::now() + limits_.keep_alive_idle);
  if (!c.in.empty() || c.buffered_input()) {
    loop_.defer([alive = std::weak_ptr<FrontDoor*>(alive_), id = c.id] {
      if (auto self = alive.lock()) (*self)->resume(id);
    });
  }
}

void FrontDoor::refuse(Connection& c, Refusal why) {
  note(why, c.peer);
  std::string answer = refusal_answer(why, limits_, max_per_address_);
  if (answer.empty() || c.phase == Connection::Phase::Handshake) return finish(c);
  c.in.clear();
  c.out.erase(0, c.out_done);
  c.out_done = 0;
  c.out += answer;
  c.close_after_write = true;
  c.phase = Connection::Phase::Writing;
  set_deadline(c, Clock::now() + limits_.write_deadline);
  if (c.flush() == Connection::Io::Closed) return finish(c);
  if (!c.writing()) on_written(c);
}

void FrontDoor::linger(Connection& c) {
  if (c.drain(kLingerBytes) == Connection::Io::Closed) finish(c);
}

// Done with a connection: no more callbacks or timers for it, its slot is free at once; the
// object (and its socket) goes once this turn is over, as callers up the stack may still hold it.
void FrontDoor::finish(Connection& c) {
  if (c.closed) return;
  c.closed = true;
  c.unwatch();
  if (c.timer != 0) loop_.cancel(c.timer);
  c.timer = 0;
  if (auto it = per_address_.find(c.peer.ip); it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  --open_;
  auto it = connections_.find(c.id);
  finished_.push_back(std::move(it->second));
  connections_.erase(it);
  if (finished_.size() == 1) {
    loop_.defer([alive = std::weak_ptr<FrontDoor*>(alive_)] {
      if (auto self = alive.lock()) (*self)->reap();
    });
  }
}

void FrontDoor::reap() {
  finished_.clear();
}

// Deadlines are kept lazily: a timer already due before the new deadline stays, and when it
// fires finds the deadline later and arms itself again. Moving a deadline later (every request
// on a busy kept connection) costs no timer operation.
void FrontDoor::set_deadline(Connection& c, Clock::time_point when) {
  c.deadline = when;
  if (when == Clock::time_point::max()) return;  // a timer still armed finds nothing due
  if (c.timer != 0) {
    if (c.timer_at <= when) return;
    loop_.cancel(c.timer);
  }
  arm(c, when);
}

void FrontDoor::arm(Connection& c, Clock::time_point when) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(when - Clock::now());
  c.timer_at = when;
  c.timer = loop_.call_after(std::max(left, std::chrono::milliseconds(0)), [this, id = c.id] { on_deadline(id); });
}

void FrontDoor::on_deadline(std::uint64_t id) {
  using P = Connection::Phase;
  Connection* found = find(id);
  if (found == nullptr) return;
  Connection& c = *found;
  c.timer = 0;
  if (c.deadline == Clock::time_point::max()) return;
  if (Clock::now() < c.deadline) return arm(c, c.deadline);
  if (c.phase == P::Handshake) {
    note(Refusal::TlsHandshakeTimeout, c.peer);
    finish(c);
  } else if (c.phase == P::Reading && !c.idle) {
    refuse(c, Refusal::RequestTimeout);
    if (!c.closed) watch(c);
  } else {
    finish(c);  // idle past keep_alive_idle, an answer not written in time, a linger over
  }
}

void FrontDoor::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (accept_timer_ != 0) loop_.cancel(accept_timer_);
  accept_timer_ = 0;
  listener_.stop();
  ::close(listen_fd_);
  listen_fd_ = -1;
  std::vector<Connection*> waiting;
  for (auto& [id, c] : connections_) {
    if (c->phase == Connection::Phase::Serving || c->phase == Connection::Phase::Writing) {
      c->close_after_write = true;
    } else if (c->phase != Connection::Phase::Lingering) {  // a lingering one ends by itself
      waiting.push_back(c.get());
    }
  }
  for (Connection* c : waiting) finish(*c);
}

// Watches what the connection waits for now; nothing while it is being answered, so a
// hang-up cannot wake the loop over and over.
void FrontDoor::watch(Connection& c) {
  if (!c.watch()) finish(c);
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
