// Using a trained model: batch classification, attention for explanations,
// and evaluation against gold labels. Runs under torch::InferenceMode.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "han/corpus.h"
#include "han/metrics.h"
#include "han/model_file.h"
#include "han/text.h"

namespace han {

struct Prediction {
  int64_t label = -1;                // the most probable label's id
  std::vector<float> probabilities;  // by label id; sums to 1
};

struct Explanation {
  Prediction prediction;
  TokenizedDocument tokens;                      // sentences and words with their spans
  std::vector<float> sentence_weights;           // one per sentence; sums to 1 unless empty
  std::vector<std::vector<float>> word_weights;  // per sentence, one per word; each sums to 1
};

using ProgressCallback = std::function<void(int64_t done, int64_t total)>;

// Keeps no state between calls besides the model it reads.
class Predictor {
 public:
  explicit Predictor(const Model& model, int batch_size = 64, int threads = 1);

  std::vector<Prediction> predict(const std::vector<Document>& documents, const ProgressCallback& progress = {}) const;
  std::vector<Explanation> explain(const std::vector<Document>& documents, const ProgressCallback& progress = {}) const;

 private:
  const Model& model_;
  int batch_size_;
  int threads_;
};

// Throws InputError naming the document when a gold label is unknown to the model.
EvaluationReport evaluate(const Model& model, const Corpus& corpus, int batch_size = 64, int threads = 1,
                          const ProgressCallback& progress = {});

}  // namespace han
