// The layering rules, read from the #include lines of every file under src/: which folder may
// use which. A newcomer breaking one gets the file, the line and the rule.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Include {
  std::string file;  // relative to src/
  int line;
  std::string target;  // as written, e.g. "push/outcome.hpp"
};

const fs::path kSrc = fs::path(TEST_DATA_DIR) / ".." / ".." / "src";

std::vector<Include> project_includes() {
  std::vector<Include> out;
  static const std::regex kInclude(R"(^\s*#\s*include\s*"([^"]+)\")");
  for (const auto& entry : fs::recursive_directory_iterator(kSrc)) {
    if (!entry.is_regular_file()) continue;
    std::string ext = entry.path().extension();
    if (ext != ".cpp" && ext != ".hpp") continue;
    std::ifstream in(entry.path());
    std::string text;
    int n = 0;
    while (std::getline(in, text)) {
      ++n;
      std::smatch m;
      if (std::regex_search(text, m, kInclude)) {
        out.push_back({fs::relative(entry.path(), kSrc).string(), n, m[1]});
      }
    }
  }
  return out;
}

std::string folder_of(const std::string& path) {
  auto slash = path.find('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// What each folder may include from the project (besides itself). Folders not listed are free.
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"common", {}},
    {"config", {"common"}},
    {"http2", {"common"}},
    {"legacy", {"common", "config"}},
    {"store", {"common", "config"}},
    {"push", {"common", "config", "http2", "store"}},
    // The front doors: each owns its answers and knows the push domain, never the other door.
    {"xmpp", {"common", "config", "push", "store"}},
    {"api", {"common", "config", "push", "store"}},
    // daemon/ is the composition root: it may use everything.
};

}  // namespace

TEST_CASE("the source tree is found, so the layering checks below read real files") {
  auto includes = project_includes();
  CHECK(includes.size() > 100);
  std::set<std::string> folders;
  for (const auto& i : includes) folders.insert(folder_of(i.file));
  for (const char* f : {"common", "config", "http2", "legacy", "push", "xmpp", "api", "store", "daemon"}) {
    CHECK_MESSAGE(folders.count(f) == 1, "no includes read from src/", f);
  }
}

TEST_CASE("each folder includes only the folders below it") {
  for (const auto& i : project_includes()) {
    std::string from = folder_of(i.file), to = folder_of(i.target);
    if (to.empty() || to == from || !fs::exists(kSrc / i.target)) continue;  // generated or same folder
    auto rule = kAllowed.find(from);
    if (rule == kAllowed.end()) continue;
    CHECK_MESSAGE(rule->second.count(to) == 1,
                  "src/" << i.file << ":" << i.line << " includes " << i.target << ", but " << from
                         << "/ may use only: " << [&] {
                              std::string s;
                              for (const auto& a : rule->second) s += (s.empty() ? "" : ", ") + a + "/";
                              return s.empty() ? std::string("nothing else in src/") : s;
                            }());
  }
}
