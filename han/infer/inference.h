// Using a trained model: batch classification, attention for explanations,
// and evaluation against gold labels. Runs under torch::InferenceMode.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "han/data/data.h"
#include "han/infer/metrics.h"
#include "han/kernels/fused.h"
#include "han/model/model.h"
#include "han/text/text.h"

namespace han {

struct Prediction {
  int64_t label = -1;                // the most probable label's id
  std::vector<float> probabilities;  // by label id; sums to 1 (multi-label: each label's own, from 0 to 1)
  // Multi-label models: the labels at or above their threshold (the model
  // file's), most probable first; possibly none.
  bool multi_label = false;
  std::vector<int64_t> chosen;
  // Set by predict(): the document held no word, so the label is a guess
  // from nothing; and what the caps (text.max_*) cut from it.
  bool empty = false;
  int64_t sentences_cut = 0, words_cut = 0, bytes_cut = 0;
};

struct Explanation {
  Prediction prediction;
  TokenizedDocument tokens;                      // sentences and words with their spans
  std::vector<float> sentence_weights;           // one per sentence; sums to 1 unless empty
  std::vector<std::vector<float>> word_weights;  // per sentence, one per word; each sums to 1
  std::vector<std::vector<int32_t>> word_ids;    // per sentence, one per word: vocabulary ids (1: unknown)
  // model.pooling: with "mean" the weights are uniform and with "max" each is
  // the share of the pooled vector's features a word or sentence supplied.
  std::string pooling = "attention";
};

using ProgressCallback = std::function<void(int64_t done, int64_t total)>;

// Runs the fused network over encoded documents in sentence-count buckets
// of `batch_size`, `threads` batches at a time, and hands each batch's
// outputs to `consume` on the calling thread, in a fixed order.
void forward_batches(const FusedHan& network, const std::vector<EncodedDocument>& documents, int batch_size,
                     int threads, bool with_attention,
                     const std::function<void(const std::vector<int64_t>& indices, const FusedBatch& batch,
                                              const FusedOutput& output)>& consume);

// Many threads may share one Predictor: it keeps no state between calls
// besides the model's weights and, once it has read more words than the
// vocabulary holds, the word GRU's input projection for every vocabulary word.
//
// On a GPU (`device` not the CPU) a copy of the network runs there through
// LibTorch's modules; `modules_on_cpu` runs those modules on the CPU too,
// instead of the fused kernels (tests compare the two paths).
class Predictor {
 public:
  explicit Predictor(const Model& model, int batch_size = 64, int threads = 1,
                     const torch::Device& device = torch::kCPU, bool modules_on_cpu = false);

  std::vector<Prediction> predict(const std::vector<Document>& documents, const ProgressCallback& progress = {}) const;
  std::vector<Explanation> explain(const std::vector<Document>& documents, const ProgressCallback& progress = {}) const;
  // explain(), handing each explanation to `consume` (with its document's
  // index, in order) as its block is done and keeping none: memory does not
  // grow with the number of documents.
  void explain_each(const std::vector<Document>& documents, const std::function<void(size_t, Explanation&&)>& consume,
                    const ProgressCallback& progress = {}) const;
  // Already tokenized and encoded documents (benchmarks, services).
  std::vector<Prediction> predict_encoded(const std::vector<EncodedDocument>& documents) const;

  // Computes the vocabulary table now rather than when it pays off.
  void precompute() const;

 private:
  struct Result;
  const FusedHan& engine_for(int64_t words) const;
  std::vector<Result> run(const std::vector<EncodedDocument>& encoded, bool with_attention) const;
  std::vector<Result> run_modules(const std::vector<EncodedDocument>& encoded, bool with_attention) const;
  void run_blocks(const std::vector<Document>& documents, bool with_attention, const ProgressCallback& progress,
                  const std::function<void(TokenizedDocument&&, Result&&)>& consume) const;

  const Model& model_;
  int batch_size_;
  int threads_;
  std::unique_ptr<FusedHan> plain_;               // projections per batch
  mutable std::unique_ptr<FusedHan> with_table_;  // the vocabulary table, once it pays off
  mutable std::mutex table_mutex_;
  mutable int64_t words_seen_ = 0;
  torch::Device device_;
  mutable HierarchicalAttentionNetwork modules_{nullptr};  // set when LibTorch's modules run; forward() is not const
};

// A multi-label model's scores on a corpus (each document's labels, at the
// model's thresholds). Throws InputError naming a document whose label the
// model does not know.
// `predictions`, when given, receives each document's prediction.
MultiLabelReport evaluate_multilabel(const Model& model, const Corpus& corpus, int batch_size = 64, int threads = 1,
                                     const ProgressCallback& progress = {}, const torch::Device& device = torch::kCPU,
                                     std::vector<Prediction>* predictions = nullptr);

// Throws InputError naming the document when a gold label is unknown to the
// model. `predictions`, when given, receives each document's prediction.
EvaluationReport evaluate(const Model& model, const Corpus& corpus, int batch_size = 64, int threads = 1,
                          const ProgressCallback& progress = {}, std::vector<Prediction>* predictions = nullptr,
                          const torch::Device& device = torch::kCPU);

}  // namespace han
