// The legacy listener shares only common/ and config/ with the rest of pushgate (DESIGN.md
// "Shape of the code"): src/legacy includes nothing from the push pipeline, http2/, the store,
// the XMPP component or the HTTP API. layering_test.cpp holds every folder to its rules.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

TEST_CASE("src/legacy includes only common/, config/ and legacy/") {
  std::filesystem::path dir = std::filesystem::path(TEST_DATA_DIR) / ".." / ".." / "src" / "legacy";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path());
    std::string line;
    ++files;
    while (std::getline(in, line)) {
      if (line.rfind("#include \"", 0) != 0) continue;
      CAPTURE(entry.path().filename().string());
      CAPTURE(line);
      std::string target = line.substr(10);
      CHECK((target.rfind("common/", 0) == 0 || target.rfind("config/", 0) == 0 || target.rfind("legacy/", 0) == 0));
    }
  }
  CHECK(files >= 10);
}
