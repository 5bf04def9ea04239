// libFuzzer target: the model-file loader and the checkpoint loader. Any
// damage must end in ModelFileError, never a crash or a huge allocation.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "han/base/error.h"
#include "han/model/model_file.h"
#include "han/train/checkpoint.h"
#include "valid_crc.h"

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
