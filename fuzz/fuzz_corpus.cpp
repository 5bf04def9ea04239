// libFuzzer target: the corpus readers. The first byte picks the reader
// (CSV, TSV, JSON Lines, fastText, labels required or optional); the rest is
// the file. Malformed input must end in InputError, nothing else.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "han/base/error.h"
#include "han/data/corpus.h"
#include "han/text/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  std::istringstream in(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  han::CorpusOptions options;
  options.labels_optional = (selector & 0x10) != 0;
  try {
    han::Corpus corpus;
    switch (selector % 4) {
      case 0:
        corpus = han::read_csv(in, "fuzz.csv", ',', options);
        break;
      case 1:
        corpus = han::read_csv(in, "fuzz.tsv", '\t', options);
        break;
      case 2:
        corpus = han::read_json_lines(in, "fuzz.jsonl", options);
        break;
      default:
        corpus = han::read_fasttext(in, "fuzz.txt", options);
        break;
    }
    for (const auto& doc : corpus.documents) {
      if (!han::is_valid_utf8(doc.text) || !han::is_valid_utf8(doc.label)) __builtin_trap();
      if (doc.label.empty() && !options.labels_optional) __builtin_trap();
    }
  } catch (const han::InputError&) {
  }
  return 0;
}
