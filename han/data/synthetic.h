// A synthetic corpus written by the project: multi-sentence film reviews
// whose label (the film's genre) is carried by one cue sentence among neutral
// ones. Every genre has its own cue words, and those words also occur in
// neutral sentences ("My neighbour said that the whole film was really
// scary."), so a model has to read the sentence, not spot a word. It is the
// data of `han demo` and of the learning tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "han/data/corpus.h"

namespace han {

struct SyntheticDocument {
  Document document;     // label: one of synthetic_labels()
  int cue_sentence = 0;  // index of the sentence that carries the label
  std::string cue_word;  // the word of that sentence that names the genre
};

// The genres, in the order documents cycle through them.
const std::vector<std::string>& synthetic_labels();

// Deterministic for a given seed. Document i has label i % 3, 4 to 9
// sentences, and exactly one cue sentence at a random place.
std::vector<SyntheticDocument> make_synthetic_corpus(int count, uint64_t seed);

}  // namespace han
