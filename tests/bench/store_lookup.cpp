// Registration lookup cost (BENCHMARKS.md): N registrations in the SQLite store, then
// 200,000 lookups of random registered nodes through RegistrationStore::find(), as a publish
// does. Prints p50/p99/max per lookup and the RSS before and after.
// Usage: bench_store_lookup DB_PATH [N]   (N default 1,000,000; the rows are bulk-inserted
// with SQL in one transaction, in the store's own schema, since registering a million devices
// through ad-hoc commands is not what is measured)
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "store/registration_store.hpp"

namespace {
long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}
// "d42.example" and the like (snprintf: gcc 12 -O3 warns falsely on "d" + std::to_string).
std::string name(const char* prefix, long v, const char* suffix = "") {
  char b[64];
  std::snprintf(b, sizeof b, "%s%ld%s", prefix, v, suffix);
  return b;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DB_PATH [N]\n", argv[0]);
    return 2;
  }
  std::string path = argv[1];
  long n = argc > 2 ? std::atol(argv[2]) : 1000000;
  { auto s = pushgate::open_sqlite_store(path); }  // creates the schema
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO registrations (device_hash, domain, app, token, node, secret, updated_ms) "
                     "VALUES (?1, ?2, 'ios', ?3, ?4, 'secret-secret-secret', 1)",
                     -1, &ins, nullptr);
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    std::string hash = name("h", i), domain = name("d", i % 100, ".example"), token = std::string(64, 'a') + name("", i),
                node = name("node-", i * 7919);
    sqlite3_bind_text(ins, 1, hash.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 2, domain.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 3, token.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 4, node.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_step(ins);
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  long rss_before = rss_kib();
  auto store = pushgate::open_sqlite_store(path);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<long> pick(0, n - 1);
  std::vector<double> us;
  us.reserve(200000);
  long found = 0;
  for (int i = 0; i < 200000; ++i) {
    long k = pick(rng);
    std::string domain = name("d", k % 100, ".example"), node = name("node-", k * 7919);
    auto a = std::chrono::steady_clock::now();
    auto r = store->find(domain, node);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count());
    found += r.has_value();
  }
  long rss_after = rss_kib();
  std::sort(us.begin(), us.end());
  std::printf("{\"registrations\": %ld, \"fill_s\": %.1f, \"lookups\": %zu, \"found\": %ld, \"p50_us\": %.1f, "
              "\"p99_us\": %.1f, \"max_us\": %.1f, \"rss_before_lookups_mib\": %.1f, \"rss_after_lookups_mib\": %.1f}\n",
              n, fill_s, us.size(), found, us[us.size() / 2], us[us.size() * 99 / 100], us.back(), rss_before / 1024.0,
              rss_after / 1024.0);
  return found == static_cast<long>(us.size()) ? 0 : 1;
}
