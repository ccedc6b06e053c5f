// A small HTTP/2-over-TLS server (nghttp2 + OpenSSL, one thread, poll) for tests and the
// benchmark: the unit tests of the HTTP/2 client script its answers (status, GOAWAY, no
// answer, MAX_CONCURRENT_STREAMS, no ALPN, a frozen peer), and the benchmarks' APNs and FCM
// stand-in runs the providers' checks in its handler without the Node mocks' per-request cost.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pushgate::test {

struct H2ServerOptions {
  std::string cert_file, key_file;  // PEM
  std::uint32_t max_streams = 0;    // advertised SETTINGS_MAX_CONCURRENT_STREAMS; 0: none
  bool alpn_h2 = true;              // false: negotiate no ALPN protocol (an HTTP/1.1-only server)
};

struct H2ServerRequest {
  std::map<std::string, std::string> headers;  // pseudo-headers included (":path"…)
  std::string body;
};

struct H2ServerAnswer {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool goaway = false;       // GOAWAY(last = this stream - 2, debug data = goaway_debug) and refuse this stream
  std::string goaway_debug;  // e.g. {"reason":"Shutdown"}
  bool no_answer = false;    // leave the stream open forever
};

class H2Server {
 public:
  using Handler = std::function<H2ServerAnswer(const H2ServerRequest&)>;

  // Listens on 127.0.0.1 (port 0: any free port). Throws std::runtime_error on a bad cert/key or bind failure.
  H2Server(H2ServerOptions options, Handler handler, int port = 0);
  ~H2Server();
  H2Server(const H2Server&) = delete;
  H2Server& operator=(const H2Server&) = delete;

  int port() const { return port_; }
  // Serves on a thread of its own until destruction.
  void start();
  // Serves on the calling thread until stop() (thread-safe).
  void run();
  void stop();

  // A frozen server reads and writes nothing: a peer that vanished without closing.
  void freeze(bool on) { frozen_ = on; }

  std::uint64_t connections() const { return connections_; }
  std::uint64_t requests() const { return requests_; }
  std::uint32_t max_open_streams() const { return max_open_streams_; }

 private:
  struct Conn;
  void accept_all();
  void serve(Conn& c);

  H2ServerOptions options_;
  Handler handler_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  void* ctx_ = nullptr;  // SSL_CTX*
  std::vector<std::unique_ptr<Conn>> conns_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> frozen_{false};
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint32_t> max_open_streams_{0};
  friend struct H2ServerCallbacks;
};

// Writes a self-signed P-256 certificate for 127.0.0.1 and localhost (valid a day) and its
// key to `dir`/server.pem and `dir`/server.key; the certificate is its own CA.
void write_self_signed_cert(const std::string& dir);
// A self-signed P-256 certificate for localhost valid from now+not_before to now+not_after
// (seconds), and its key (mode 600).
void write_cert_pair(const std::string& cert_path, const std::string& key_path, long not_after, long not_before = -60);
// Now, in the clock these certificates are dated with and OpenSSL measures their time left
// with: time(), which can read a second behind system_clock around a second's boundary. A
// test bounding a certificate's dates reads this one.
inline std::int64_t certificate_clock_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace pushgate::test
