// The HAN computed by hand-written kernels over packed sequences, with its own
// backward pass: the same function as HierarchicalAttentionNetwork (model.h),
// which stays the reference it is tested against, at a fraction of the cost.
//
// Why it is faster than the LibTorch modules:
// - No padding anywhere: each level runs on a PackedLayout, so step t of a
//   GRU touches only the rows still running.
// - The word GRU's input projection is computed once per distinct word of the
//   batch (training), or read from a table computed once for the whole
//   vocabulary (inference), instead of once per token; its backward pass sums
//   the gradients of each word's tokens first, so the weight and embedding
//   gradients are matrix products over distinct words, not tokens.
// - A GRU step is one matrix product plus one loop over the gates; the
//   backward pass through time writes into buffers reused from step to step,
//   and the weight gradients are one matrix product over all steps.
// - No autograd graph, no dispatch per small operation, no allocation per step.
//
// The kernels run single-threaded; callers split a batch between threads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "han/kernels/packed.h"
#include "han/model/model.h"

namespace han {

// One batch laid out for the kernels.
struct FusedBatch {
  int64_t documents = 0;
  PackedLayout words;                    // rows: the batch's sentences, most words first
  PackedLayout sentences;                // rows: the documents, most sentences first
  std::vector<int32_t> word_ids;         // [words.tokens()] in packed order
  std::vector<int32_t> sentence_source;  // [sentences.tokens()]: the `words` row holding each sentence
  std::vector<int32_t> document_row;     // [documents] by input position: its row in `sentences`
  std::vector<int64_t> labels;           // [documents] by input position; empty unless all are labeled
  // [documents] by input position: each document's label ids, for the
  // multi-label head; empty unless some document has them.
  std::vector<std::vector<int32_t>> targets;

  int64_t sentence_count(int64_t document) const {
    return sentences.length(document_row[static_cast<size_t>(document)]);
  }
  // The `words` row of a document's sentence (both by input order).
  int64_t sentence_row(int64_t document, int64_t sentence) const {
    return sentence_source[static_cast<size_t>(sentences.index(sentence, document_row[static_cast<size_t>(document)]))];
  }
};

FusedBatch plan_fused_batch(const std::vector<const EncodedDocument*>& documents);

// Consecutive parts of `documents` holding at most `max_tokens` words each
// (a longer document alone): the fused kernels' memory follows the tokens of
// a call, so this bounds it whatever the documents' lengths.
std::vector<std::vector<const EncodedDocument*>> split_by_tokens(const std::vector<const EncodedDocument*>& documents,
                                                                 int64_t max_tokens);
constexpr int64_t kMaxTokensPerCall = 32768;

// Gradients, summed over the calls since reset(). The embedding's gradient
// is kept as rows of the words the batches held, not as a vocabulary-sized
// tensor; a word may appear once per call.
struct FusedGradients {
  ParameterTensors dense;                // every parameter but kEmbedding; zero-filled by reset()
  std::vector<int32_t> embedding_words;  // vocabulary ids; empty when embeddings are frozen
  std::vector<float> embedding_rows;     // [embedding_words, embed], row-major
  void reset(const ParameterTensors& like);
};

struct FusedTrainOptions {
  double loss_scale = 1;                 // the loss is loss_scale * (sum of the documents' weighted cross-entropies)
  const float* class_weights = nullptr;  // [labels]: each document's cross-entropy times its label's; null: 1
  // One sigmoid per label and binary cross-entropy against the batch's
  // targets (summed over labels), instead of the softmax; class weights unused.
  bool multi_label = false;
  bool embedding_gradient = true;
  double dropout = 0;          // on sentence and document vectors, as the model's config says
  uint64_t dropout_seed = 0;   // masks depend on this and each document's position...
  int64_t first_document = 0;  // ...first_document + its position in the batch, not on threads
};

struct FusedStepResult {
  double loss_sum = 0;  // weighted cross-entropy summed over the documents (not scaled)
  int64_t correct = 0;  // multi-label: documents whose every label is right at 0.5
};

// Per-thread buffers, reused from call to call: they only grow.
class FusedWorkspace {
 public:
  FusedWorkspace();
  ~FusedWorkspace();
  FusedWorkspace(FusedWorkspace&&) noexcept;
  FusedWorkspace& operator=(FusedWorkspace&&) noexcept;
  size_t bytes() const;

 private:
  friend class FusedHan;
  struct Buffers;
  std::unique_ptr<Buffers> buffers_;
};

struct FusedOutput {
  std::vector<float> logits;              // [documents, labels] by input position
  std::vector<float> word_attention;      // [batch.words.tokens()] in packed order; only when asked
  std::vector<float> sentence_attention;  // [batch.sentences.tokens()] in packed order; only when asked
};

class FusedHan {
 public:
  // Reads the network's current weights; build a new one after they change.
  // With `vocabulary_table`, the word GRU's input projection is computed
  // once for every vocabulary word (inference: [vocab, 6*word_hidden] floats).
  explicit FusedHan(HierarchicalAttentionNetwork network, bool vocabulary_table = false);

  // Forward only. Safe to call from many threads, each with its own workspace.
  void forward(const FusedBatch& batch, FusedWorkspace& workspace, FusedOutput& output,
               bool with_attention = false) const;

  // Forward and backward for a labeled batch: adds the gradients of
  // options.loss_scale * (summed cross-entropy) to `gradients`. Memory grows
  // with the batch's tokens (about 3.6 KB each at the paper's sizes): split
  // big batches (split_by_tokens) and call once per part.
  FusedStepResult train_step(const FusedBatch& batch, FusedWorkspace& workspace, FusedGradients& gradients,
                             const FusedTrainOptions& options) const;

  int64_t label_count() const { return label_count_; }
  const ParameterTensors& parameters() const { return parameters_; }

 private:
  struct Level;
  class Pass;
  FusedStepResult run(const FusedBatch& batch, FusedWorkspace& workspace, FusedOutput* output, bool with_attention,
                      FusedGradients* gradients, const FusedTrainOptions& options) const;
  HierarchicalAttentionNetwork network_;
  ParameterTensors parameters_;
  int64_t label_count_;
  // Input weights of both GRU directions stacked: [6h, input] and [6h].
  torch::Tensor word_ih_, word_ih_bias_, sentence_ih_, sentence_ih_bias_;
  torch::Tensor word_table_;  // [vocab, 6h] or undefined
};

// One row of logits: the index of the largest, and sum_k exp(z_k - z_best)
// (the row's own maximum subtracted, so nothing overflows). The cross-entropy
// of label y is log(sum) - (z_y - z_best); probability k is exp(z_k - z_best) / sum.
struct LogitRow {
  int64_t best = 0;
  double sum = 1;
};
LogitRow summarize_logits(const float* logits, int64_t labels);

// Dense [docs, max_sents] and [docs, max_sents, max_words] attention, zero on
// padding, as the reference network returns it (for tests and comparisons).
std::pair<torch::Tensor, torch::Tensor> dense_attention(const FusedBatch& batch, const FusedOutput& output);

// Floating-point operations of one document's forward pass (and backward,
// when training): what the benchmark divides by time to report GFLOP/s.
// Counts matrix products and the GRU step's own arithmetic, as if every
// token's input projection were computed (the work the fused path avoids
// counts as done: the figure is comparable with the reference network's).
double han_flops(const ModelConfig& config, int64_t label_count, int64_t tokens, int64_t sentences, bool training);

// What the engine's matrix products run on, chosen once per process:
// "oneDNN sgemm" on x86-64 with AVX-512 when the process has oneDNN's
// dnnl_sgemm with OpenMP or sequential threads (Debian's LibTorch links
// libdnnl): its AVX-512 kernels, where the BLAS may run AVX2 ones, are about
// 2x faster on HAN's small products. Else "LibTorch" (its BLAS), also with
// HAN_MATMUL=libtorch in the environment.
std::string matmul_backend();
// c[m, n] = a[m, k] . b[k, n], row-major, on that backend: what the engine's
// products run on, for measuring them.
void matrix_product(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n);

}  // namespace han
