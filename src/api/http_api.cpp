// The local HTTP API: POST /push served on the loop, everything else by cpp-httplib's request
// processing on worker threads, both behind the front door on the loop.
#include "api/http_api.hpp"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <optional>

#include <nlohmann/json.hpp>

#include "api/http_wire.hpp"
#include "api/memory_exchange.hpp"
#include "api/outcome_status.hpp"
#include "api/push_body.hpp"
#include "common/keys.hpp"
#include "common/log.hpp"
#include "common/secret.hpp"

namespace pushgate::api {

// httplib's routing and request processing without its sockets: the front door owns those.
class HttpApi::Engine : public httplib::Server {
 public:
  using httplib::Server::process_request;
};

namespace {

constexpr std::size_t kMaxBody = 16 * 1024;
// The front door's bounds; the per-address cap comes from [http] max_connections_per_address.
constexpr FrontDoorLimits kLimits{
    .head = {.max_bytes = 16 * 1024, .max_fields = 100},
    .max_body = kMaxBody,
    .request_deadline = std::chrono::seconds(5),
    .tls_handshake_deadline = std::chrono::seconds(3),
    .keep_alive_idle = std::chrono::seconds(10),
    .write_deadline = std::chrono::seconds(5),
    .max_connections = 1024,
    .max_per_address = 32,
};
// Requests httplib answers at once: /health and /metrics (each waits up to 2 s for the loop)
// and a POST /push the loop leaves to httplib (it waits for its outcome).
constexpr std::size_t kWorkers = 16;
// What httplib's answers say in Keep-Alive, and what the loop's say the same way.
constexpr KeepAliveHeader kKeepAlive{std::chrono::duration_cast<std::chrono::seconds>(kLimits.keep_alive_idle), 100000};
// How long the destructor turns the loop for answers still going out.
constexpr auto kFinalDrain = std::chrono::seconds(1);

const std::string kInternalError = R"({"error":"internal error; see pushgate's log"})";

// Waits up to `limit` for the loop's answer, in slices so `closing` is noticed. nullopt also
// when the loop dropped the task (the API went away).
template <class T>
std::optional<T> wait_answer(std::future<T>& future, std::chrono::milliseconds limit,
                             const std::atomic<bool>& closing) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (closing || std::chrono::steady_clock::now() >= until) return std::nullopt;
  }
  try {
    return future.get();
  } catch (const std::future_error&) {
    return std::nullopt;
  }
}

// Runs fn on the loop thread, while the API is there, and waits for its result.
template <class T>
std::optional<T> ask_loop(EventLoop& loop, std::weak_ptr<HttpApi*> alive, std::function<T(HttpApi&)> fn,
                          std::chrono::milliseconds limit, const std::atomic<bool>& closing) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  loop.post([alive = std::move(alive), promise, fn = std::move(fn)]() mutable {
    if (auto self = alive.lock()) promise->set_value(fn(**self));
  });
  return wait_answer(future, limit, closing);
}

void json_reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// A push's answer as text. A string that cannot be JSON (invalid UTF-8 in a reason) makes it
// the internal error httplib's exception handler answers.
std::string dump_or_internal(int& status, const nlohmann::json& body) {
  try {
    return body.dump();
  } catch (const std::exception& e) {
    log::error("api_exception", {{"error", e.what()}});
    status = 500;
    return kInternalError;
  }
}

using SslCtx = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

// The HTTPS context: TLS 1.2 or later with the configured pair, and when client_ca is set,
// a client certificate signed by it. Null when a file is unusable.
SslCtx make_tls_context(const HttpConfig& h) {
  SslCtx ctx(SSL_CTX_new(TLS_server_method()), &SSL_CTX_free);
  bool ok = ctx != nullptr;
  if (ok) {
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    // Non-blocking writes may be partial and retried from a moved buffer; idle connections
    // give their read and write buffers back.
    SSL_CTX_set_mode(ctx.get(),
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    ok = SSL_CTX_use_certificate_chain_file(ctx.get(), h.tls_cert.c_str()) == 1 &&
         SSL_CTX_use_PrivateKey_file(ctx.get(), h.tls_key.c_str(), SSL_FILETYPE_PEM) == 1 &&
         SSL_CTX_check_private_key(ctx.get()) == 1;
  }
  if (ok && !h.client_ca.empty()) {
    ok = SSL_CTX_load_verify_locations(ctx.get(), h.client_ca.c_str(), nullptr) == 1;
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(h.client_ca.c_str())) {
      SSL_CTX_set_client_CA_list(ctx.get(), names);  // tells clients which certificate to send
    }
  }
  ERR_clear_error();
  if (!ok) ctx.reset();
  return ctx;
}

}  // namespace

// A certificate chain and key loaded by a reload, handed to each new handshake.
struct TlsPair {
  X509* leaf = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509) * chain = nullptr;
  ~TlsPair() {
    X509_free(leaf);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
  }
};

namespace {
// Reads a PEM chain (leaf first) and its key; null with `error` set when either is unusable.
std::shared_ptr<TlsPair> load_tls_pair(const std::string& cert_file, const std::string& key_file, std::string& error) {
  auto pair = std::make_shared<TlsPair>();
  pair->chain = sk_X509_new_null();
  std::FILE* f = std::fopen(cert_file.c_str(), "r");
  if (f != nullptr) {
    while (X509* c = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
      if (pair->leaf == nullptr)
        pair->leaf = c;
      else
        sk_X509_push(pair->chain, c);
    }
    std::fclose(f);
  }
  f = std::fopen(key_file.c_str(), "r");
  if (f != nullptr) {
    pair->key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
  }
  ERR_clear_error();
  if (pair->leaf == nullptr || pair->key == nullptr || X509_check_private_key(pair->leaf, pair->key) != 1) {
    ERR_clear_error();
    error = "cannot load tls_cert " + cert_file + " with tls_key " + key_file;
    return nullptr;
  }
  return pair;
}
}  // namespace


void HttpApi::apply(const Config& config) {
  int longest = 0;
  for (const AppConfig& a : config.apps) longest = std::max({longest, a.deadline_ms, a.voip_deadline_ms});
  push_secret_ = config.http.push_secret;
  rate_limit_ = config.http.rate_limit;
  push_wait_ = std::chrono::milliseconds(longest + 5000);
  push_wait_ms_ = push_wait_.count();
}

void HttpApi::reload(std::shared_ptr<const Config> fresh) {
  observed_.config = fresh;
  const HttpConfig& h = fresh->http;
  apply(*fresh);
  limiter_.set_rate(h.rate_limit);
  front_->set_max_per_address(static_cast<std::size_t>(h.max_connections_per_address));
  if (tls_ && !h.tls_cert.empty()) {
    std::string error;
    auto pair = load_tls_pair(h.tls_cert, h.tls_key, error);
    if (!pair) {
      log::error("reload_failed",
                 {{"what", "[http] tls_cert"}, {"error", error}, {"action", "kept the previous certificate"}});
      return;
    }
    tls_pair_ = std::move(pair);
    observed_.http_certificate_not_after = certificate_not_after(tls_pair_->leaf);
  }
}

HttpApi::HttpApi(EventLoop& loop, const Config& config, Dispatcher& dispatcher, Observed observed)
    : loop_(loop), dispatcher_(dispatcher), observed_(observed), limiter_(config.http.rate_limit) {
  apply(config);
  const HttpConfig& h = config.http;
  bool tls = !h.tls_cert.empty();
  if (tls) {
    tls_ = make_tls_context(h);
    if (!tls_) {
      throw std::runtime_error("[http] cannot load tls_cert " + h.tls_cert + " / tls_key " + h.tls_key +
                               (h.client_ca.empty() ? "" : " / client_ca " + h.client_ca) +
                               ": check that they are PEM files and that the key matches the certificate");
    }
    observed_.http_certificate_not_after = certificate_not_after(SSL_CTX_get0_certificate(tls_.get()));
    // After a reload each handshake (on the loop, like the reload) takes the reloaded pair;
    // before one, the context's own.
    SSL_CTX_set_cert_cb(
        tls_.get(),
        [](SSL* ssl, void* arg) -> int {
          const std::shared_ptr<TlsPair>& pair = static_cast<HttpApi*>(arg)->tls_pair_;
          if (!pair) return 1;
          return SSL_use_cert_and_key(ssl, pair->leaf, pair->key, pair->chain, 1) == 1 ? 1 : 0;
        },
        this);
  }
  engine_ = std::make_unique<Engine>();
  httplib::Server& srv = *engine_;
  srv.set_payload_max_length(kMaxBody);
  // Only for the Keep-Alive header of answers: the front door keeps the connections.
  srv.set_keep_alive_max_count(kKeepAlive.max);
  srv.set_keep_alive_timeout(kKeepAlive.timeout.count());
  srv.Post("/push", [this](const httplib::Request& req, httplib::Response& res) { handle_push(req, res); });
  srv.Get("/push", [this](const httplib::Request&, httplib::Response& res) {
    res.set_header("Allow", "POST");
    json_reply(res, 405, {{"error", "use POST /push with {\"node\":…,\"secret\":…,\"type\":\"call\"}"}});
  });
  srv.Get("/health", [this](const httplib::Request&, httplib::Response& res) { handle_health(res); });
  srv.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) { handle_metrics(res); });
  // Called for every 4xx/5xx; handlers that answered already set a body, which stays.
  srv.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      json_reply(res, 404, {{"error", "unknown path; use POST /push, GET /health or GET /metrics"}});
    } else if (res.status == 413) {
      json_reply(res, 413, {{"error", "request body larger than 16 KiB"}});
    } else {
      json_reply(res, res.status, {{"error", "HTTP " + std::to_string(res.status)}});
    }
  });
  srv.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    count(req.path == "/push" || req.path == "/health" || req.path == "/metrics" ? req.path : "other", res.status);
  });
  srv.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::error("api_exception", {{"error", what}});
    res.status = 500;
    res.set_content(kInternalError, "application/json");
  });

  std::string host, port;
  if (!split_host_port(h.listen, host, port))
    throw std::runtime_error("[http] listen '" + h.listen + "' is not host:port");
  FrontDoorLimits limits = kLimits;
  limits.max_per_address = static_cast<std::size_t>(h.max_connections_per_address);
  try {
    // port: digits up to 65535, checked when the configuration was read
    front_ = std::make_unique<FrontDoor>(loop_, host, std::stoi(port), tls_.get(), limits,
                                         [this](Request request) { on_request(std::move(request)); });
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("[http] cannot listen on " + h.listen + ": " + e.what() +
                             "; is another program on that port? (Prosody's https_ports default to 5281 too): "
                             "set [http] listen to a free address");
  }
  workers_ = std::make_unique<httplib::ThreadPool>(kWorkers);
  port_ = front_->port();
  log::info("api_listening", {{"address", host + ":" + std::to_string(port_)},
                              {"tls", tls ? "yes" : "no"},
                              {"client_certificates", h.client_ca.empty() ? "not required" : "required"},
                              {"push", h.push_secret ? "enabled" : "disabled (no push_secret_file)"},
                              {"rate_limit", h.rate_limit > 0 ? std::to_string(h.rate_limit) + "/s per client" : "off"},
                              {"connections_per_address", std::to_string(limits.max_per_address)}});
}

HttpApi::~HttpApi() {
  closing_ = true;  // workers waiting for the loop give up; pushes from now on are refused
  front_->stop();
  // Pushes still without an outcome are told so; their outcome, should it come, finds none.
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, push] : pending) {
    if (push.timer != 0) loop_.cancel(push.timer);
    int status = 503;
    std::string json = dump_or_internal(status, {{"outcome", "retry"}, {"error", "pushgate is shutting down"}});
    push.reply(status, std::move(json));
  }
  workers_->shutdown();  // joined: what they computed is queued for the loop
  take_worker_answers();
  // The answers go out, and their connections linger for what the peer still sends, while
  // the loop turns here (its owner has stopped running it).
  auto until = std::chrono::steady_clock::now() + kFinalDrain;
  while (front_->open_connections() > 0 && std::chrono::steady_clock::now() < until) {
    loop_.run_once(std::chrono::milliseconds(50));
  }
  alive_.reset();
  front_.reset();
}

void HttpApi::stop() {
  front_->stop();
}

// On the loop: a POST /push the loop can read itself is served here; the rest goes to httplib.
void HttpApi::on_request(Request request) {
  std::string_view bytes = request.bytes;
  std::optional<PushHead> head = read_push_head(bytes.substr(0, request.head_bytes), bytes.size() - request.head_bytes);
  if (!head) return to_worker(std::move(request));
  start_push(head->content_type, bytes.substr(request.head_bytes), request.peer.ip,
             [this, connection = request.connection, last = request.last, head = *head](int status, std::string json) {
               count("/push", status);
               // As httplib decides with `last`; a stop since the hand-over counts as one.
               bool end = last || front_->stopping();
               std::string bytes = write_answer(status, "application/json", json, end || head.says_close, kKeepAlive);
               front_->answer(connection, {std::move(bytes), !end && !head.closes});
             });
}

void HttpApi::to_worker(Request request) {
  workers_->enqueue([this, request = std::move(request)]() mutable {
    Answer answer;
    try {
      answer = serve(std::move(request.bytes), request.peer, request.last);
    } catch (...) {
      answer = {};  // closes the connection
    }
    bool first;
    {
      std::lock_guard lock(worker_answers_mutex_);
      first = worker_answers_.empty();
      worker_answers_.emplace_back(request.connection, std::move(answer));
    }
    if (first) {
      loop_.post([alive = std::weak_ptr<HttpApi*>(alive_)] {
        if (auto self = alive.lock()) (*self)->take_worker_answers();
      });
    }
  });
}

void HttpApi::take_worker_answers() {
  std::vector<std::pair<std::uint64_t, Answer>> taken;
  {
    std::lock_guard lock(worker_answers_mutex_);
    taken.swap(worker_answers_);
  }
  for (auto& [connection, answer] : taken) front_->answer(connection, std::move(answer));
}

Answer HttpApi::serve(std::string request, const Peer& peer, bool last) {
  MemoryExchange exchange(std::move(request), peer);
  bool connection_closed = false;
  bool answered = engine_->process_request(exchange, last, connection_closed, nullptr);
  return {exchange.take_output(), answered && !connection_closed && !last};
}

void HttpApi::count(const std::string& path, int status) {
  std::lock_guard lock(counts_mutex_);
  ++counts_[{path, status}];
}

// On the loop: the checks of POST /push, then the dispatcher. `reply` is called once, at once
// for a refusal, else with the outcome or at the push's deadline.
void HttpApi::start_push(std::string_view content_type, std::string_view body, const std::string& client,
                         PushReply reply) {
  auto answer = [&](int status, const nlohmann::json& json) {
    std::string text = dump_or_internal(status, json);
    reply(status, std::move(text));
  };
  if (closing_) {
    answer(503, {{"outcome", "retry"}, {"error", "pushgate is shutting down"}});
    return;
  }
  if (!limiter_.allow(client)) {
    ++rate_limited_;
    answer(429, {{"outcome", "rate_limited"},
                 {"error", "more than " + std::to_string(rate_limit_) +
                               " requests/s from this client; slow down or raise [http] rate_limit"}});
    return;
  }
  auto parsed = parse_push_body(content_type, body);
  if (!parsed) {
    answer(400, {{"outcome", "bad_request"}, {"error", parsed.error().message()}});
    return;
  }
  PushBody& fields = parsed.value();
  if (!push_secret_) {
    answer(403, {{"outcome", "forbidden"}, {"error", "POST /push is disabled: set [http] push_secret_file"}});
    return;
  }
  if (!constant_time_equal(fields.secret, *push_secret_)) {
    log::warn("api_forbidden", {{"client", client}, {"reason", "wrong push secret"}});
    answer(403, {{"outcome", "forbidden"}, {"error", "wrong secret"}});
    return;
  }
  PushRequest push;
  push.node = std::move(fields.node);
  push.sender_domain = "http-api";
  if (!fields.type.empty()) push.options["type"] = std::move(fields.type);
  if (!fields.app.empty()) push.options["app"] = std::move(fields.app);
  std::uint64_t id = next_push_++;
  PendingPush& pending = pending_[id];
  pending.reply = std::move(reply);
  pending.timer = loop_.call_after(push_wait_, [this, id, wait = push_wait_] {
    int status = 504;
    std::string json = dump_or_internal(
        status, {{"outcome", "retry"}, {"error", "no outcome within " + std::to_string(wait.count()) + " ms"}});
    end_push(id, status, std::move(json));
  });
  // The same dispatcher as the XMPP front door; the caller is authenticated by push_secret.
  dispatcher_.dispatch(
      std::move(push),
      [alive = std::weak_ptr<HttpApi*>(alive_), id](const Outcome& o) {
        auto self = alive.lock();
        if (!self) return;
        nlohmann::json json = {{"outcome", to_string(o.kind)}};
        if (o.kind != OutcomeKind::Delivered && !o.reason.empty()) json["reason"] = o.reason;
        int status = http_status_for(o.kind);
        std::string text = dump_or_internal(status, json);
        (*self)->end_push(id, status, std::move(text));
      },
      true);
}

void HttpApi::end_push(std::uint64_t push, int status, std::string json) {
  auto it = pending_.find(push);
  if (it == pending_.end()) return;  // answered already (its deadline, or shutdown)
  PendingPush done = std::move(it->second);
  pending_.erase(it);
  if (done.timer != 0) loop_.cancel(done.timer);
  done.reply(status, std::move(json));
}

// On a worker: a POST /push httplib had to read (see read_push_head). The loop serves it as
// its own and this thread waits for the answer.
void HttpApi::handle_push(const httplib::Request& req, httplib::Response& res) {
  using Answered = std::pair<int, std::string>;
  auto promise = std::make_shared<std::promise<Answered>>();
  auto future = promise->get_future();
  loop_.post([alive = std::weak_ptr<HttpApi*>(alive_), content_type = req.get_header_value("Content-Type"),
              body = req.body, client = req.remote_addr, promise] {
    auto self = alive.lock();
    if (!self) return;
    (*self)->start_push(content_type, body, client, [promise](int status, std::string json) {
      promise->set_value({status, std::move(json)});
    });
  });
  // The loop answers 504 at push_wait; the margin is for a loop that does not turn at all.
  auto limit = std::chrono::milliseconds(push_wait_ms_.load()) + std::chrono::seconds(1);
  auto answered = wait_answer(future, limit, closing_);
  if (!answered) {
    if (closing_) {
      json_reply(res, 503, {{"outcome", "retry"}, {"error", "pushgate is shutting down"}});
    } else {
      json_reply(res, 504, {{"outcome", "retry"}, {"error", "no outcome within " + std::to_string(limit.count()) + " ms"}});
    }
    return;
  }
  res.status = answered->first;
  res.set_content(answered->second, "application/json");
}

void HttpApi::handle_health(httplib::Response& res) {
  auto h = ask_loop<Health>(
      loop_, alive_, [](HttpApi& api) { return health(api.observed_); }, std::chrono::milliseconds(2000), closing_);
  if (!h) {
    json_reply(res, 503, {{"status", "down"}, {"error", "the event loop did not answer within 2 s"}});
    return;
  }
  res.status = h->http_status;
  res.set_content(h->json, "application/json");
}

// Loop thread: the front door's counters are the loop's.
std::string HttpApi::api_metrics() {
  metrics::Writer w;
  w.family("pushgate_api_requests_total", "counter", "Local HTTP API requests, by path and status.");
  {
    std::lock_guard lock(counts_mutex_);
    for (const auto& [key, n] : counts_)
      w.sample("pushgate_api_requests_total", {{"path", key.first}, {"status", std::to_string(key.second)}}, n);
  }
  w.family("pushgate_api_rate_limited_total", "counter", "POST /push requests refused by the per-client rate limit.");
  w.sample("pushgate_api_rate_limited_total", {}, rate_limited_);
  front_->write_metrics(w);
  return w.text();
}

void HttpApi::handle_metrics(httplib::Response& res) {
  auto text = ask_loop<std::string>(
      loop_, alive_, [](HttpApi& api) { return metrics_text(api.observed_) + api.api_metrics(); },
      std::chrono::milliseconds(2000), closing_);
  if (!text) {
    json_reply(res, 503, {{"error", "the event loop did not answer within 2 s"}});
    return;
  }
  res.status = 200;
  res.set_content(*text, "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace pushgate::api
