// Classifies each argument after the model with han's library and prints
// the label, its probability and the sentence the model attended to most.
//   classify MODEL TEXT...
#include <cstdio>
#include <exception>
#include <vector>

#include "han/infer/infer.h"
#include "han/model/model.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: classify MODEL TEXT...\n");
    return 2;
  }
  try {
    const han::Model model = han::load_model(argv[1]);
    std::vector<han::Document> documents;
    for (int i = 2; i < argc; ++i) documents.push_back({argv[i], "", "argv"});
    const han::Predictor predictor(model);
    for (const han::Explanation& e : predictor.explain(documents)) {
      const auto& p = e.prediction;
      std::printf("%s\t%.6f", model.labels.name(p.label).c_str(),
                  static_cast<double>(p.probabilities[static_cast<size_t>(p.label)]));
      size_t top = 0;
      for (size_t s = 1; s < e.sentence_weights.size(); ++s) {
        if (e.sentence_weights[s] > e.sentence_weights[top]) top = s;
      }
      if (!e.sentence_weights.empty()) std::printf("\t%s", e.tokens.sentences[top].text.c_str());
      std::printf("\n");
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "classify: %s\n", error.what());
    return 1;
  }
  return 0;
}
