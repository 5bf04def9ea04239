// libFuzzer target: the folder reader and read_inputs on a file with
// arbitrary bytes (invalid UTF-8, Latin-1, NUL bytes), written to a folder
// corpus ROOT/<label>/<file> in a temporary directory.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "han/base/error.h"
#include "han/data/corpus.h"
#include "han/text/utf8.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path root = [] {
    const fs::path path = fs::temp_directory_path() / ("han-fuzz-folder-" + std::to_string(::getpid()));
    fs::create_directories(path / "pos");
    fs::create_directories(path / "neg");
    std::ofstream(path / "neg" / "1.txt") << "a fixed document";
    return path;
  }();
  {
    std::ofstream out(root / "pos" / "1.txt", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const han::Corpus corpus = han::read_corpus(root.string());
    for (const auto& doc : corpus.documents) {
      if (!han::is_valid_utf8(doc.text)) __builtin_trap();
    }
    const auto lines = han::read_inputs({(root / "pos" / "1.txt").string()}, true);
    for (const auto& doc : lines) {
      if (!han::is_valid_utf8(doc.text)) __builtin_trap();
    }
  } catch (const han::InputError&) {
  }
  return 0;
}
