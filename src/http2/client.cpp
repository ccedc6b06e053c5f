// The HTTP/2 connection pool: origins, name lookups on libuv's thread pool, queueing,
// timeouts, reconnect backoff.
#include "http2/client.hpp"

#include <netdb.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <openssl/err.h>

#include "common/keys.hpp"
#include "common/log.hpp"

namespace pushgate {

HttpsUrl parse_https_url(std::string_view url) {
  HttpsUrl u;
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) return u;
  url.remove_prefix(kScheme.size());
  std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  u.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  u.authority = authority;
  std::string_view host = authority, port;
  if (!authority.empty() && authority[0] == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return u;
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return u;
      port = rest.substr(1);
    }
  } else if (std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host.find_first_of(" @/?#") != std::string_view::npos) return u;
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return u;
    int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return u;
  }
  u.host = host;
  u.port = port.empty() ? "443" : std::string(port);
  u.ok = true;
  return u;
}

struct Http2Client::Origin {
  std::string key;  // host:port|ca_file
  std::string host, port;
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx{nullptr, SSL_CTX_free};
  std::string ctx_error;  // why ctx is null
  std::vector<std::unique_ptr<H2Connection>> conns;
  std::deque<H2Exchange*> pending;
  std::vector<std::pair<sockaddr_storage, socklen_t>> addrs;
  std::size_t next_addr = 0;     // the address new connections go to: the last one that worked
  std::size_t addr_failures = 0;  // addresses refused in a row since one worked or the lookup
  std::chrono::steady_clock::time_point resolved_at;
  bool resolving = false;
  unsigned failures = 0;  // connections in a row that never got ready
  std::chrono::steady_clock::time_point next_connect;
  std::string last_error;
  Http2Failure last_failure = Http2Failure::None;
};

struct Http2Client::Resolved {
  std::vector<std::pair<sockaddr_storage, socklen_t>> addrs;
  std::string error;
};

namespace {

// SSLKEYLOGFILE, as curl and browsers honour it: TLS secrets for decrypting a capture
// (tests/bench/h2_frames.sh). Only when the operator sets the variable.
void write_keylog(const SSL*, const char* line) {
  static std::FILE* f = [] {
    const char* path = std::getenv("SSLKEYLOGFILE");
    return path != nullptr && *path != '\0' ? std::fopen(path, "a") : nullptr;
  }();
  if (f == nullptr) return;
  std::fprintf(f, "%s\n", line);
  std::fflush(f);
}

std::chrono::milliseconds connect_backoff(unsigned failures) {
  std::int64_t ms = 100;
  for (unsigned i = 1; i < failures && ms < 10000; ++i) ms *= 2;
  return std::chrono::milliseconds(std::min<std::int64_t>(ms, 10000));
}

}  // namespace

Http2Client::Http2Client(EventLoop& loop, Http2ClientOptions options) : loop_(loop), options_(options) {}

Http2Client::~Http2Client() {
  shutting_down_ = true;
  gate_->alive = false;
  if (tick_) loop_.cancel(tick_);
  for (auto& [ex, owned] : live_) loop_.cancel(ex->timer);
  origins_.clear();  // connections close; on_exchange_done ignores them while shutting down
}

Http2Client::Origin* Http2Client::origin_for(const HttpsUrl& url, const std::string& ca_file) {
  std::string key = url.host + ":" + url.port + "|" + ca_file;
  auto it = origins_.find(key);
  if (it != origins_.end()) return it->second.get();
  auto o = std::make_unique<Origin>();
  o->key = key;
  o->host = url.host;
  o->port = url.port;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    o->ctx_error = "cannot create a TLS context: " + openssl_error();
  } else {
    o->ctx.reset(ctx);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    static const unsigned char kAlpn[] = {2, 'h', '2'};
    SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn);
    if (std::getenv("SSLKEYLOGFILE") != nullptr) SSL_CTX_set_keylog_callback(ctx, &write_keylog);
    int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                             : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
    if (ok != 1) {
      o->ctx_error = "cannot load CA certificates from " + (ca_file.empty() ? std::string("the system store") : ca_file) +
                     ": " + openssl_error();
      o->ctx.reset();
    }
  }
  Origin* raw = o.get();
  origins_.emplace(std::move(key), std::move(o));
  return raw;
}

void Http2Client::submit(Http2Request request, Done done) {
  auto owned = std::make_unique<H2Exchange>();
  H2Exchange* ex = owned.get();
  ex->request = std::move(request);
  ex->done = std::move(done);
  ex->started = std::chrono::steady_clock::now();
  live_.emplace(ex, std::move(owned));
  HttpsUrl url = parse_https_url(ex->request.url);
  if (!url.ok) {
    ex->response.failure = Http2Failure::BadUrl;
    ex->response.error = "not an https://host[:port]/path URL";
    complete(ex);
    return;
  }
  ex->authority = std::move(url.authority);
  ex->path = std::move(url.path);
  Origin* o = origin_for(url, ex->request.ca_file);
  ex->origin = o;
  ex->timer = loop_.call_after(ex->request.timeout, [this, ex] { on_timeout(ex); });
  o->pending.push_back(ex);
  pump(*o);
  schedule_service();
}

void Http2Client::pump(Origin& o) {
  for (auto& c : o.conns) {
    bool queued = false;
    while (!o.pending.empty() && c->capacity() > 0) {
      if (!c->submit(o.pending.front())) break;
      o.pending.pop_front();
      queued = true;
    }
    if (queued) dirty_ = true;
  }
  if (o.pending.empty()) return;
  std::size_t usable = o.resolving ? 1 : 0;
  bool setting_up = o.resolving;
  for (const auto& c : o.conns) {
    if (!c->usable()) continue;
    ++usable;
    if (c->state() != H2Connection::State::Ready) setting_up = true;
  }
  // One connection at a time is set up; another opens only when the ready ones are full.
  if (setting_up || usable >= options_.max_connections) return;
  if (std::chrono::steady_clock::now() < o.next_connect) {
    // Backing off after failed connections: with nothing to carry them, say so now rather
    // than let every request wait for its timeout.
    if (usable == 0) fail_pending(o);
    return;
  }
  open_connection(o);
}

void Http2Client::fail_pending(Origin& o) {
  std::deque<H2Exchange*> failed;
  failed.swap(o.pending);
  for (H2Exchange* ex : failed) {
    ex->response.failure = o.last_failure == Http2Failure::None ? Http2Failure::Connect : o.last_failure;
    ex->response.error = "cannot connect to " + o.host + ":" + o.port + " (" + std::to_string(o.failures) +
                         " failed attempts, retrying): " + o.last_error;
    complete(ex);
  }
}

void Http2Client::open_connection(Origin& o) {
  if (!o.ctx) {
    o.last_failure = Http2Failure::TlsVerify;
    o.last_error = o.ctx_error;
    ++o.failures;
    o.next_connect = std::chrono::steady_clock::now() + connect_backoff(o.failures);
    fail_pending(o);
    return;
  }
  // Addresses are looked up again every five minutes, so a provider moving hosts is followed.
  if (o.addrs.empty() || std::chrono::steady_clock::now() - o.resolved_at > std::chrono::minutes(5)) {
    start_resolve(o);
    return;
  }
  const auto& [addr, len] = o.addrs[o.next_addr % o.addrs.size()];
  o.conns.push_back(std::make_unique<H2Connection>(loop_, static_cast<H2Connection::Listener&>(*this), o.ctx.get(), o.host, addr, len, options_.connection));
  ++connections_opened_;
  log::debug("http2_connecting", {{"origin", o.host + ":" + o.port}, {"connections", std::to_string(o.conns.size())}});
}

void Http2Client::start_resolve(Origin& o) {
  o.resolving = true;
  // An address written out needs no lookup (and getaddrinfo does not block on it).
  auto numeric_lookup = [](const std::string& host, const std::string& port) {
    Resolved r;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) {
      r.error = "cannot resolve " + host + ": " + gai_strerror(rc);
      return r;
    }
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      sockaddr_storage ss{};
      std::memcpy(&ss, a->ai_addr, a->ai_addrlen);
      r.addrs.emplace_back(ss, a->ai_addrlen);
    }
    freeaddrinfo(res);
    return r;
  };
  auto apply = [this](const std::string& key, Resolved r) {
    auto it = origins_.find(key);
    if (it == origins_.end()) return;
    Origin& o = *it->second;
    o.resolving = false;
    if (r.addrs.empty()) {
      o.last_error = r.error;
      o.last_failure = Http2Failure::Connect;
      ++o.failures;
      o.next_connect = std::chrono::steady_clock::now() + connect_backoff(o.failures);
      log::warn("http2_resolve_failed", {{"origin", o.host + ":" + o.port}, {"error", r.error}});
      fail_pending(o);
      return;
    }
    o.addrs = std::move(r.addrs);
    o.next_addr = 0;
    o.addr_failures = 0;
    o.resolved_at = std::chrono::steady_clock::now();
    pump(o);
    schedule_service();
  };
  if (auto given = options_.resolve.find(o.host + ":" + o.port); given != options_.resolve.end()) {
    Resolved all;
    for (const auto& address : given->second) {
      Resolved one = numeric_lookup(address, o.port);
      all.addrs.insert(all.addrs.end(), one.addrs.begin(), one.addrs.end());
      if (all.error.empty()) all.error = one.error;
    }
    apply(o.key, std::move(all));
    return;
  }
  if (Resolved numeric = numeric_lookup(o.host, o.port); !numeric.addrs.empty()) {
    apply(o.key, std::move(numeric));
    return;
  }
  // A name: getaddrinfo blocks, so it runs on libuv's thread pool and reports back on the loop.
  struct Lookup {
    uv_getaddrinfo_t req{};
    std::weak_ptr<Gate> gate;
    std::string key, host;
    std::function<void(const std::string&, Resolved)> apply;
  };
  auto* lk = new Lookup{};
  lk->req.data = lk;
  lk->gate = gate_;
  lk->key = o.key;
  lk->host = o.host;
  lk->apply = apply;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int rc = uv_getaddrinfo(
      loop_.uv(), &lk->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        std::unique_ptr<Lookup> lk(static_cast<Lookup*>(req->data));
        Resolved r;
        if (status != 0) {
          r.error = "cannot resolve " + lk->host + ": " + uv_strerror(status);
        } else {
          for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
            sockaddr_storage ss{};
            std::memcpy(&ss, a->ai_addr, a->ai_addrlen);
            r.addrs.emplace_back(ss, a->ai_addrlen);
          }
        }
        uv_freeaddrinfo(res);
        auto gate = lk->gate.lock();
        if (gate && gate->alive) lk->apply(lk->key, std::move(r));
      },
      o.host.c_str(), o.port.c_str(), &hints);
  if (rc != 0) {
    delete lk;
    Resolved r;
    r.error = "cannot resolve " + o.host + ": " + uv_strerror(rc);
    apply(o.key, std::move(r));
  }
}

void Http2Client::on_exchange_done(H2Exchange* ex, bool unprocessed) {
  if (shutting_down_) return;
  if (unprocessed) {
    // The server never saw it (REFUSED_STREAM, above a GOAWAY's last stream): not an
    // attempt, just a stream that has to be found elsewhere.
    ++requeued_;
    ex->response = Http2Response{};
    static_cast<Origin*>(ex->origin)->pending.push_front(ex);
    return;
  }
  complete(ex);
}

void Http2Client::on_timeout(H2Exchange* ex) {
  ex->timer = 0;
  if (ex->conn != nullptr) {
    ex->conn->cancel(ex);
    dirty_ = true;
  } else {
    auto& pending = static_cast<Origin*>(ex->origin)->pending;
    pending.erase(std::remove(pending.begin(), pending.end(), ex), pending.end());
  }
  ex->response.failure = Http2Failure::Timeout;
  ex->response.error = "no answer within " + std::to_string(ex->request.timeout.count()) + " ms";
  complete(ex);
}

void Http2Client::complete(H2Exchange* ex) {
  if (ex->timer != 0) loop_.cancel(ex->timer);
  ex->timer = 0;
  auto it = live_.find(ex);
  if (it == live_.end()) return;
  ex->response.elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - ex->started);
  completed_.push_back(std::move(it->second));
  live_.erase(it);
  schedule_service();
}

void Http2Client::deliver() {
  // Callbacks may submit more; those land in completed_ anew and wait for the next round.
  std::vector<std::unique_ptr<H2Exchange>> batch;
  batch.swap(completed_);
  for (auto& ex : batch) ex->done(std::move(ex->response));
}

void Http2Client::sweep(Origin& o, std::chrono::steady_clock::time_point now) {
  for (auto it = o.conns.begin(); it != o.conns.end();) {
    H2Connection& c = **it;
    if (c.state() != H2Connection::State::Closed) {
      if (c.state() == H2Connection::State::Ready) o.addr_failures = 0;
      ++it;
      continue;
    }
    pings_sent_ += c.pings_sent();
    if (c.goaway_received()) ++goaways_;
    std::string origin = o.host + ":" + o.port;
    if (!c.ever_ready() && c.failure() == Http2Failure::Connect && ++o.addr_failures < o.addrs.size()) {
      // The name has another address (an IPv6 one on a host without IPv6 routes, one server
      // of several down): the next connection tries it at once, and what waits keeps waiting.
      ++o.next_addr;
      log::debug("http2_connect_next_address", {{"origin", origin}, {"error", c.error()}});
      it = o.conns.erase(it);
      continue;
    }
    if (!c.ever_ready()) {
      ++o.next_addr;
      o.addr_failures = 0;
      ++o.failures;
      o.last_error = c.error();
      o.last_failure = c.failure();
      o.next_connect = now + connect_backoff(o.failures);
      // Loud on the first failure and then at powers of two, so an outage is not a log flood.
      if ((o.failures & (o.failures - 1)) == 0) {
        log::warn("http2_connect_failed", {{"origin", origin}, {"error", c.error()},
                                           {"failures", std::to_string(o.failures)},
                                           {"retry_in_ms", std::to_string(connect_backoff(o.failures).count())}});
      }
    } else {
      o.failures = 0;
      o.last_error.clear();
      o.last_failure = Http2Failure::None;
      if (c.failure() != Http2Failure::None) {
        log::warn("http2_connection_lost", {{"origin", origin}, {"error", c.error()}});
      } else {
        log::debug("http2_connection_closed", {{"origin", origin}, {"reason", c.error()}});
      }
    }
    it = o.conns.erase(it);
  }
}

void Http2Client::schedule_service() {
  if (service_scheduled_ || shutting_down_) return;
  service_scheduled_ = true;
  loop_.defer([this, gate = std::weak_ptr<Gate>(gate_)] {
    auto alive = gate.lock();
    if (!alive || !alive->alive) return;
    service_scheduled_ = false;
    service();
  });
}

void Http2Client::service() {
  auto now = std::chrono::steady_clock::now();
  for (auto& [key, o] : origins_) {
    for (auto& c : o->conns) c->on_turn(now);
    sweep(*o, now);
    pump(*o);
  }
  if (dirty_) {
    dirty_ = false;
    for (auto& [key, o] : origins_) {
      for (auto& c : o->conns) c->flush();
    }
  }
  now = std::chrono::steady_clock::now();
  auto next = std::chrono::steady_clock::time_point::max();
  for (auto& [key, o] : origins_) {
    for (auto& c : o->conns) {
      c->update_watch();
      next = std::min(next, c->next_check());
    }
    if (!o->pending.empty()) next = std::min(next, now + std::chrono::seconds(1));
  }
  if (next != std::chrono::steady_clock::time_point::max()) {
    next = std::min(next, now + std::chrono::seconds(1));
    if (tick_ && next < tick_at_) {
      loop_.cancel(tick_);
      tick_ = 0;
    }
    if (!tick_) {
      auto delay = std::max(std::chrono::ceil<std::chrono::milliseconds>(next - now), std::chrono::milliseconds(1));
      tick_at_ = next;
      tick_ = loop_.call_after(delay, [this] {
        tick_ = 0;
        service();
      });
    }
  }
  deliver();
}

std::vector<Http2Client::OriginStatus> Http2Client::status() const {
  std::vector<OriginStatus> out;
  for (const auto& [key, o] : origins_) {
    OriginStatus s;
    s.origin = o->host + ":" + o->port;
    for (const auto& c : o->conns) {
      if (c->usable()) ++s.connections;
      s.streams += c->active();
    }
    s.waiting = o->pending.size();
    s.last_error = o->last_error;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace pushgate
