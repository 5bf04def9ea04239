// libFuzzer target: the prepared-corpus readers (han prepare's .hanc files and
// han train's cache), whole and record by record. Any damage must end in InputError, never a crash or a
// huge allocation: a cache is a file anyone who can write the folder can edit.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "han/base/error.h"
#include "han/data/prepared.h"
#include "valid_crc.h"

namespace {

const std::string& scratch_path() {
  static const std::string path = "/tmp/fuzz_prepared." + std::to_string(::getpid()) + ".hanc";
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  for (const std::string& bytes : {raw, with_valid_crc(raw)}) {
    std::FILE* file = std::fopen(scratch_path().c_str(), "wb");
    if (!file) return 0;
    std::fwrite(bytes.data(), 1, bytes.size(), file);
    std::fclose(file);
    try {
      han::read_prepared(scratch_path());
    } catch (const han::InputError&) {
    }
    // Opened as training opens it: every record read back on demand, and the key alone.
    try {
      const han::PreparedFile opened = han::open_prepared(scratch_path());
      han::InternedDocument document;
      for (int64_t i = 0; i < opened.corpus.records->size(); ++i) opened.corpus.records->read(i, document);
    } catch (const han::InputError&) {
    }
    try {
      han::read_prepared_key(scratch_path());
    } catch (const han::InputError&) {
    }
  }
  return 0;
}
