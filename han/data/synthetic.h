// A synthetic corpus written by the project: multi-sentence "reviews" in which
// the label is carried by one or two sentences among neutral ones. It is the
// built-in default for `han demo` and the data of the learning tests.
#pragma once

#include <cstdint>
#include <vector>

#include "han/data/corpus.h"

namespace han {

struct SyntheticDocument {
  Document document;                  // label "positive" or "negative"
  std::vector<int> label_sentences;   // indices of the sentences that carry the label
};

// Deterministic for a given seed. Each document has 4 to 9 sentences.
std::vector<SyntheticDocument> make_synthetic_corpus(int count, uint64_t seed);

}  // namespace han
