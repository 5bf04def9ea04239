// libFuzzer target: the model-file loader and the checkpoint loader. Any
// damage must end in ModelFileError, never a crash or a huge allocation.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "han/base/bytes.h"
#include "han/base/error.h"
#include "han/model/model_file.h"
#include "han/train/checkpoint.h"

namespace {

// The checksum would stop almost every mutation at the door; a second pass
// with the CRC recomputed lets the fuzzer reach the header and weight parsing.
std::string with_valid_crc(std::string bytes) {
  if (bytes.size() < 16) return bytes;
  bytes.resize(bytes.size() - 4);
  han::bytes::put<uint32_t>(bytes, han::bytes::crc32_of(bytes.data(), bytes.size()));
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  for (const std::string& bytes : {raw, with_valid_crc(raw)}) {
    try {
      std::istringstream in(bytes);
      han::load_model(in, "fuzz.han");
    } catch (const han::ModelFileError&) {
    }
    try {
      han::parse_checkpoint(bytes, "fuzz.ckpt");
    } catch (const han::ModelFileError&) {
    }
  }
  return 0;
}
