// Load generator for the push pipeline: plays Prosody's side of XEP-0114 (accepts the
// component, checks its handshake), starts pushgate itself (so it can read its CPU time and
// peak RSS from /proc), fires publish IQs like mod_cloud_notify's and times the replies.
//
// Usage: bench_component_load PUSHGATE_BIN COUNT [RATE] [WINDOW]
//   COUNT   publishes to send
//   RATE    publishes per second, 0 = as fast as the window allows (saturation)
//   WINDOW  maximum unanswered publishes (default 5000, below pushgate's queue_size)
// Prints one JSON object with throughput, latency percentiles, CPU per push and peak RSS.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <openssl/sha.h>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "bench: %s\n", why.c_str());
  std::exit(1);
}

std::string sha1_hex(const std::string& s) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

// CPU seconds (user + system) of a process, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// Reads until `needle` has arrived; returns everything read.
std::string read_until(int fd, const std::string& needle) {
  std::string buf;
  char tmp[4096];
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (buf.find(needle) == std::string::npos) {
    if (Clock::now() > deadline) die("timed out waiting for " + needle);
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n <= 0) die("pushgate closed the connection during the handshake");
    buf.append(tmp, static_cast<size_t>(n));
  }
  return buf;
}

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 100);
      continue;
    }
    if (n <= 0) die("write failed");
    off += static_cast<size_t>(n);
  }
}

std::string publish(std::size_t id, const std::string& secret) {
  char token[65];
  std::snprintf(token, sizeof token, "%064zx", id * 2654435761u);
  return "<iq to='push.bench' from='bench.example' id='" + std::to_string(id) +
         "' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='" + token +
         "'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='form'>"
         "<field type='hidden' var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>"
         "<field type='text-single' var='message-count'><value>1</value></field>"
         "<field type='text-single' var='pending-subscription-count'/>"
         "<field type='jid-single' var='last-message-sender'/>"
         "<field type='text-single' var='last-message-body'><value>New Message!</value></field>"
         "</x></notification></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>"
         "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
         "<field var='secret'><value>" + secret + "</value></field>"
         "<field var='type'><value>voip</value></field></x></publish-options></pubsub></iq>";
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) die("usage: bench_component_load PUSHGATE_BIN COUNT [RATE] [WINDOW]");
  std::string bin = argv[1];
  std::size_t count = std::stoul(argv[2]);
  double rate = argc > 3 ? std::stod(argv[3]) : 0;
  std::size_t window = argc > 4 ? std::stoul(argv[4]) : 5000;
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 1) != 0) die("bind/listen failed");
  socklen_t alen = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen);
  int port = ntohs(addr.sin_port);

  char dir_tmpl[] = "/tmp/pushgate-bench-XXXXXX";
  std::string dir = mkdtemp(dir_tmpl);
  const std::string comp_secret = "bench-component-secret", app_secret = "bench-app-secret";
  write_file(dir + "/component.secret", comp_secret + "\n", 0600);
  write_file(dir + "/app.secret", app_secret + "\n", 0600);
  // PUSHGATE_BENCH_APP names a file with the [[app]] table to push through (e.g. apns to the
  // mock); "@SECRET_FILE@" in it is replaced. Default: the log provider into /dev/null.
  std::string app = "[[app]]\nname = \"bench\"\nservice = \"log\"\nsecret_file = \"@SECRET_FILE@\"\noutput = \"/dev/null\"\n";
  if (const char* path = std::getenv("PUSHGATE_BENCH_APP")) {
    std::ifstream in(path);
    app.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  for (auto at = app.find("@SECRET_FILE@"); at != std::string::npos; at = app.find("@SECRET_FILE@")) {
    app.replace(at, 13, dir + "/app.secret");
  }
  write_file(dir + "/pushgate.toml",
             "[component]\njid = \"push.bench\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                 "\nsecret_file = \"" + dir + "/component.secret\"\n[push]\nqueue_size = 10000\n" + app,
             0600);

  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDOUT_FILENO);
    std::string cfg = dir + "/pushgate.toml";
    execl(bin.c_str(), bin.c_str(), "--config", cfg.c_str(), "--log-level", "warn", static_cast<char*>(nullptr));
    _exit(127);
  }

  int fd = accept(lfd, nullptr, nullptr);
  if (fd < 0) die("accept failed");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  read_until(fd, ">");  // the component's stream header
  const std::string stream_id = "benchstream1";
  write_all(fd, "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                "xmlns='jabber:component:accept' id='" + stream_id + "' from='push.bench'>");
  std::string hs = read_until(fd, "</handshake>");
  if (hs.find(sha1_hex(stream_id + comp_secret)) == std::string::npos) die("handshake digest does not match");
  write_all(fd, "<handshake/>");
  fcntl(fd, F_SETFL, O_NONBLOCK);

  double cpu_start = cpu_seconds(pid);
  auto start = Clock::now();
  std::vector<Clock::time_point> sent_at(count);
  std::vector<double> latencies_ms;
  latencies_ms.reserve(count);
  std::size_t sent = 0, answered = 0, results = 0, errors = 0;
  std::string in, out;
  char buf[65536];
  auto deadline = start + std::chrono::seconds(120);

  while (answered < count && Clock::now() < deadline) {
    // Send what the rate and the window allow, batched into one write.
    auto now = Clock::now();
    std::size_t allowed = count;
    if (rate > 0) {
      double elapsed = std::chrono::duration<double>(now - start).count();
      allowed = std::min(count, static_cast<std::size_t>(elapsed * rate) + 1);
    }
    out.clear();
    while (sent < allowed && sent - answered < window && out.size() < 256 * 1024) {
      out += publish(sent, app_secret);
      sent_at[sent] = now;
      ++sent;
    }
    if (!out.empty()) write_all(fd, out);

    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, rate > 0 ? 1 : 50);
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        in.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) die("pushgate closed the stream");
      break;
    }
    // Each reply is an <iq …> start tag with an id and a type.
    auto got = Clock::now();
    std::size_t pos = 0;
    for (;;) {
      std::size_t s = in.find("<iq ", pos);
      if (s == std::string::npos) break;
      std::size_t e = in.find('>', s);
      if (e == std::string::npos) break;
      std::string tag = in.substr(s, e - s);
      pos = e + 1;
      auto idp = tag.find("id=\"");
      auto tp = tag.find("type=\"");
      if (idp == std::string::npos || tp == std::string::npos) continue;
      if (tag.compare(tp + 6, 3, "get") == 0) continue;  // pushgate's own keepalive ping
      std::size_t id = std::strtoul(tag.c_str() + idp + 4, nullptr, 10);
      if (id >= sent) continue;
      ++answered;
      if (tag.compare(tp + 6, 6, "result") == 0) ++results; else ++errors;
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(got - sent_at[id]).count());
    }
    in.erase(0, pos);
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  double cpu = cpu_seconds(pid) - cpu_start;
  long rss = peak_rss_kib(pid);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);

  std::printf("{\"count\": %zu, \"answered\": %zu, \"results\": %zu, \"errors\": %zu, \"rate_target\": %.0f, "
              "\"seconds\": %.3f, \"throughput_per_s\": %.0f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
              "\"pushgate_cpu_s\": %.3f, \"cpu_us_per_push\": %.2f, \"peak_rss_mib\": %.1f, \"exit_status\": %d}\n",
              count, answered, results, errors, rate, secs, static_cast<double>(answered) / secs,
              percentile(latencies_ms, 0.50), percentile(latencies_ms, 0.99), cpu,
              answered ? cpu * 1e6 / static_cast<double>(answered) : 0.0, static_cast<double>(rss) / 1024.0,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  std::system(("rm -rf " + dir).c_str());
  return answered == count && errors == 0 ? 0 : 1;
}
