// libcurl multi + nghttp2: one multiplexing client shared by the providers of an origin.
#include "push/http2_client.hpp"

#include <algorithm>
#include <memory>

#include "common/log.hpp"

namespace pushgate {

struct Http2Client::Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  Http2Request request;
  Http2Response response;
  Done done;
  std::chrono::steady_clock::time_point started;
  char error[CURL_ERROR_SIZE] = {0};
};

namespace {
// curl_global_init is not thread-safe; done once, before any handle exists.
void global_init() {
  static const bool done = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  (void)done;
}
}  // namespace

Http2Client::Http2Client(EventLoop& loop, Http2ClientOptions options) : loop_(loop), options_(std::move(options)) {
  global_init();
  CURLM* multi = loop_.multi();
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_connections);
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, options_.max_connections * 4);
  // libcurl sizes its connection cache by the handles currently added (4 each) and closes
  // what does not fit; between bursts that is none, so connections would not outlive a lull.
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, std::max(16L, options_.max_connections * 4));
  // Our own upper bound per connection; the server's SETTINGS lower it (APNs can say 1).
  curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, kStreamsPerConnection);
  max_active_ = static_cast<std::size_t>(options_.max_connections * kStreamsPerConnection);
  window_ = 1;  // until a connection has told us its limits
  loop_.add_source(this);
}

Http2Client::~Http2Client() {
  loop_.remove_source(this);
  for (Transfer* t : live_) {
    curl_multi_remove_handle(loop_.multi(), t->easy);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    delete t;
  }
  for (CURL* h : idle_handles_) curl_easy_cleanup(h);
}

const long Http2Client::kStreamsPerConnection;

int Http2Client::on_open_socket_count(void* clientp, curl_socket_t, curlsocktype purpose) {
  auto* self = static_cast<Http2Client*>(clientp);
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKOPT_OK;
  ++self->connections_opened_;
  // A connection beyond the first ones replaces one the server closed or refused streams
  // on (GOAWAY, REFUSED_STREAM past its MAX_CONCURRENT_STREAMS): send less at once.
  if (self->connections_opened_ > static_cast<std::uint64_t>(self->options_.max_connections)) {
    self->window_ = std::max<std::size_t>(1, self->window_ / 2);
  }
  return CURL_SOCKOPT_OK;
}

std::size_t Http2Client::on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  constexpr std::size_t kMaxBody = 64 * 1024;  // provider answers are small JSON; cap a hostile one
  if (t->response.body.size() + size * n > kMaxBody) return 0;
  t->response.body.append(data, size * n);
  return size * n;
}

void Http2Client::submit(Http2Request request, Done done) {
  // libcurl opens a new connection whenever the streams of the open ones are used up, past
  // CURLMOPT_MAX_HOST_CONNECTIONS; we hand it no more than the connections can multiplex
  // and keep the rest in order here.
  if (in_flight_ >= window_) {
    waiting_.emplace_back(std::move(request), std::move(done));
    return;
  }
  start(std::move(request), std::move(done));
}

void Http2Client::start(Http2Request request, Done done) {
  auto t = std::make_unique<Transfer>();
  t->request = std::move(request);
  t->done = std::move(done);
  t->started = std::chrono::steady_clock::now();
  if (!idle_handles_.empty()) {
    t->easy = idle_handles_.back();
    idle_handles_.pop_back();
    curl_easy_reset(t->easy);
  } else {
    t->easy = curl_easy_init();
  }
  if (t->easy == nullptr) {
    fail_later(std::move(t), CURLE_OUT_OF_MEMORY, "curl_easy_init failed");
    return;
  }
  CURL* e = t->easy;
  for (const auto& [k, v] : t->request.headers) t->headers = curl_slist_append(t->headers, (k + ": " + v).c_str());
  // libcurl would add "Expect: 100-continue" to larger POSTs and a content type; APNs and FCM need neither.
  t->headers = curl_slist_append(t->headers, "Expect:");
  t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
  curl_easy_setopt(e, CURLOPT_URL, t->request.url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);  // wait for a multiplexed stream rather than open a connection
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->request.body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(t->request.body.size()));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t->request.timeout.count()));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  // Connections stay for an hour of quiet (libcurl's default drops them after 118 s, so a
  // call after a lull would wait for a TLS handshake); TCP keepalive finds a dead peer, and
  // libcurl checks a connection is alive before it reuses it.
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 60L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 20L);
  curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 3600L);
  curl_easy_setopt(e, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
  if (!t->request.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, t->request.ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Http2Client::on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, &Http2Client::on_open_socket_count);
  curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, this);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  CURLMcode rc = curl_multi_add_handle(loop_.multi(), e);
  if (rc != CURLM_OK) {
    fail_later(std::move(t), CURLE_FAILED_INIT, curl_multi_strerror(rc));
    return;
  }
  ++in_flight_;
  live_.insert(t.release());
}

void Http2Client::fail_later(std::unique_ptr<Transfer> t, CURLcode code, std::string why) {
  curl_slist_free_all(t->headers);
  t->headers = nullptr;
  if (t->easy != nullptr) idle_handles_.push_back(t->easy);
  t->response.transport = code;
  t->response.transport_error = std::move(why);
  // Answered next turn, never inside submit(); shared so a loop destroyed first frees it.
  std::shared_ptr<Transfer> owned(std::move(t));
  loop_.defer([owned] { owned->done(std::move(owned->response)); });
}

void Http2Client::on_turn() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(loop_.multi(), &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* e = msg->easy_handle;
    Transfer* raw = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, reinterpret_cast<char**>(&raw));
    std::unique_ptr<Transfer> t(raw);
    live_.erase(raw);
    curl_multi_remove_handle(loop_.multi(), e);
    --in_flight_;
    Http2Response& r = t->response;
    r.transport = msg->data.result;
    if (r.transport != CURLE_OK) {
      r.transport_error = t->error[0] ? t->error : curl_easy_strerror(r.transport);
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
    long version = 0;
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
    r.http2 = version == CURL_HTTP_VERSION_2_0;
    r.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t->started);
    // Each answered stream widens what we send at once, up to what the connections carry.
    if (r.transport == CURLE_OK && r.http2 && window_ < max_active_) ++window_;
    curl_slist_free_all(t->headers);
    t->headers = nullptr;
    idle_handles_.push_back(e);
    t->done(std::move(r));
  }
  while (!waiting_.empty() && in_flight_ < window_) {
    auto [request, done] = std::move(waiting_.front());
    waiting_.pop_front();
    start(std::move(request), std::move(done));
  }
}

}  // namespace pushgate
