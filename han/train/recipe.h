// The automatic recipe of `han train`: settings chosen from statistics of the
// training corpus (its size, classes, lengths and script) for every setting
// the user did not give. Nothing here looks at what the text says, only at
// how much of it there is: a corpus never seen before gets the same rules.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "han/data/config.h"
#include "han/data/corpus.h"
#include "han/data/prepared.h"

namespace han {

struct CorpusProfile {
  int64_t documents = 0;
  int64_t classes = 0;
  double smallest_class = 0;  // share of the documents in the rarest class
  double largest_class = 0;   // and in the most frequent one
  int64_t smallest_class_documents = 0;
  int64_t tokens = 0;    // estimated: runs of letters or digits, each CJK character one
  double cjk_share = 0;  // share of those tokens that are CJK characters
  double mean_tokens() const { return documents ? static_cast<double>(tokens) / static_cast<double>(documents) : 0; }
};

// One pass over the texts and labels (documents with no label are not counted).
CorpusProfile profile_corpus(const Corpus& corpus);
// The same from a tokenized corpus, whose word estimate was taken of the text.
CorpusProfile profile_corpus(const TokenizedCorpus& corpus);
nlohmann::json to_json(const CorpusProfile& profile);

// One automatic choice: the setting as --set names it, its value and why.
struct RecipeChoice {
  std::string key;  // "section.key"
  nlohmann::json value;
  std::string reason;
};
nlohmann::json to_json(const RecipeChoice& choice);

// Sets in `config` what the profile calls for and returns one choice per
// setting changed. Settings named in `fixed` ("section.key", e.g. from a
// config file or --set) keep the value `config` has.
std::vector<RecipeChoice> choose_recipe(const CorpusProfile& profile, const std::set<std::string>& fixed,
                                        Config& config);

}  // namespace han
