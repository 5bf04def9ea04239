// Two runs' explanations of the same documents, compared: the same label and
// word ids each (checked), and the largest difference of any probability,
// sentence weight or word weight (returned, for the caller's tolerance).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "han/infer/inference.h"
#include "torch_catch.h"

inline double largest_explanation_difference(const std::vector<han::Explanation>& a,
                                             const std::vector<han::Explanation>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  const auto compare = [&worst](float x, float y) { worst = std::max(worst, std::abs(double(x - y))); };
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].prediction.label == b[i].prediction.label);
    REQUIRE(a[i].prediction.probabilities.size() == b[i].prediction.probabilities.size());
    for (size_t k = 0; k < a[i].prediction.probabilities.size(); ++k)
      compare(a[i].prediction.probabilities[k], b[i].prediction.probabilities[k]);
    REQUIRE(a[i].sentence_weights.size() == b[i].sentence_weights.size());
    for (size_t s = 0; s < a[i].sentence_weights.size(); ++s) {
      compare(a[i].sentence_weights[s], b[i].sentence_weights[s]);
      REQUIRE(a[i].word_weights[s].size() == b[i].word_weights[s].size());
      CHECK(a[i].word_ids[s] == b[i].word_ids[s]);
      for (size_t w = 0; w < a[i].word_weights[s].size(); ++w)
        compare(a[i].word_weights[s][w], b[i].word_weights[s][w]);
    }
  }
  return worst;
}
