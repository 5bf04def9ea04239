// The real corpora the tests read: ../shared/data beside the project, or the
// folder HAN_DATA_DIR names. A user's clone may not have them: a test that
// needs a missing one says which file and where to get it, and is skipped,
// unless HAN_REQUIRE_DATA=1 (CI) makes that a failure.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace han_test {

inline std::string shared_data_dir() {
  const char* dir = std::getenv("HAN_DATA_DIR");
  return dir && *dir ? dir : HAN_SHARED_DATA_DIR;
}

inline bool data_required() {
  const char* required = std::getenv("HAN_REQUIRE_DATA");
  return required && std::string(required) == "1";
}

// The corpus's path, or "" after a warning when it is missing and not required.
inline std::string shared_corpus(const std::string& name) {
  const std::string path = shared_data_dir() + "/" + name;
  if (std::filesystem::exists(path)) return path;
  const std::string why =
      "missing corpus " + path + " (docs/DATA.md says where to get it; set HAN_DATA_DIR to the folder that holds it)";
  if (data_required()) FAIL(why << "; HAN_REQUIRE_DATA=1 makes a missing corpus a failure");
  WARN("SKIPPED: " << why);
  return "";
}

}  // namespace han_test

// Declares `var` as the corpus's path, or returns from the test case when it
// is missing and may be skipped.
#define HAN_SHARED_CORPUS(var, name)                     \
  const std::string var = han_test::shared_corpus(name); \
  if (var.empty()) return
