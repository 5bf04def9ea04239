// The Hierarchical Attention Network (Yang et al., NAACL 2016):
// embeddings -> word BiGRU -> word attention -> sentence vectors
// -> sentence BiGRU -> sentence attention -> document vector -> linear.
//
// Module names passed to register_module are part of the model-file format:
// renaming one breaks every saved model (tests/test_model_file.cpp guards them).
#pragma once

#include <array>

#include <torch/nn.h>

#include "han/data/data.h"
#include "han/model/batch.h"

namespace han {

// Sequence positions at or past each row's length are padding.
// Returns [rows, steps] bool, true on real positions.
torch::Tensor length_mask(const torch::Tensor& lengths, int64_t steps);

// Softmax over dim 1 that gives padding exactly zero weight. Each row's own
// maximum is subtracted, so no row underflows whatever the others hold.
// scores [rows, steps], mask [rows, steps] bool with at least one true per row.
torch::Tensor masked_softmax(const torch::Tensor& scores, const torch::Tensor& mask);

// Bidirectional GRU that never reads padding: the backward direction runs
// over each sequence reversed within its own length, so padding at the end
// changes no output at a real position.
class BiGruImpl : public torch::nn::Module {
 public:
  BiGruImpl(int64_t input_size, int64_t hidden_size);
  // inputs [rows, steps, input]; reversed_inputs is the same with every row
  // reversed within its length. Returns [rows, steps, 2*hidden].
  torch::Tensor forward(const torch::Tensor& inputs, const torch::Tensor& reversed_inputs,
                        const torch::Tensor& reverse_index);
  // weight_ih, weight_hh, bias_ih, bias_hh of the forward direction, then the backward's.
  std::array<torch::Tensor, 8> weights() const;

 private:
  torch::nn::GRU forward_gru{nullptr};
  torch::nn::GRU backward_gru{nullptr};
};
TORCH_MODULE(BiGru);

// Index that reverses each row within its length and leaves padding in place:
// [rows, steps] int64 with index[r][t] = len-1-t for t < len, t otherwise.
torch::Tensor reversal_index(const torch::Tensor& lengths, int64_t steps);

// u = tanh(W h + b); alpha = masked softmax(u . context); returns sum alpha h.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t input_size, int64_t attention_size);
  // states [rows, steps, input], mask [rows, steps]
  // -> {pooled [rows, input], weights [rows, steps]}
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& states, const torch::Tensor& mask);
  // The projection's weight [attention, input] and bias, and the context vector.
  std::array<torch::Tensor, 3> weights() const;

 private:
  torch::nn::Linear projection{nullptr};
  torch::Tensor context;
};
TORCH_MODULE(Attention);

// One level's pooling as model.pooling says: "attention" (the module's own
// weights), or the paper's ablations "mean" and "max", which leave the
// attention module unused. states [rows, steps, input], mask [rows, steps]
// -> {pooled [rows, input], weights [rows, steps]}. The mean's weights are
// 1/length; the max's are the share of the pooled vector's features each
// position supplied. Either way they sum to one per row, like attention's.
std::pair<torch::Tensor, torch::Tensor> pool_states(const std::string& pooling, Attention& attention,
                                                    const torch::Tensor& states, const torch::Tensor& mask);

// The network's parameters in a fixed order: what the fused kernels (and
// anything else that needs one tensor by role) index.
enum ParameterIndex : int {
  kEmbedding,
  kWordForwardIh,
  kWordForwardHh,
  kWordForwardBiasIh,
  kWordForwardBiasHh,
  kWordBackwardIh,
  kWordBackwardHh,
  kWordBackwardBiasIh,
  kWordBackwardBiasHh,
  kWordAttentionWeight,
  kWordAttentionBias,
  kWordAttentionContext,
  kSentenceForwardIh,
  kSentenceForwardHh,
  kSentenceForwardBiasIh,
  kSentenceForwardBiasHh,
  kSentenceBackwardIh,
  kSentenceBackwardHh,
  kSentenceBackwardBiasIh,
  kSentenceBackwardBiasHh,
  kSentenceAttentionWeight,
  kSentenceAttentionBias,
  kSentenceAttentionContext,
  kClassifierWeight,
  kClassifierBias,
  kParameterCount
};
using ParameterTensors = std::array<torch::Tensor, kParameterCount>;
// Its name in named_parameters() and in model files, e.g. "classifier.bias".
const char* parameter_name(int index);

struct HanOutput {
  torch::Tensor logits;              // [docs, labels]
  torch::Tensor sentence_attention;  // [docs, max_sents], zero on padding; only when asked
  torch::Tensor word_attention;      // [docs, max_sents, max_words], zero on padding; only when asked
};

class HierarchicalAttentionNetworkImpl : public torch::nn::Module {
 public:
  HierarchicalAttentionNetworkImpl(const ModelConfig& config, int64_t vocabulary_size, int64_t label_count);
  HanOutput forward(const Batch& batch, bool with_attention = false);

  const ModelConfig& config() const { return config_; }
  int64_t vocabulary_size() const { return vocabulary_size_; }
  int64_t label_count() const { return label_count_; }
  torch::nn::Embedding& word_embedding() { return embedding; }
  // The network's own tensors (shared, not copied), in ParameterIndex order.
  ParameterTensors parameter_tensors() const;

 private:
  ModelConfig config_;
  int64_t vocabulary_size_;
  int64_t label_count_;
  torch::nn::Embedding embedding{nullptr};
  BiGru word_encoder{nullptr};
  Attention word_attention{nullptr};
  BiGru sentence_encoder{nullptr};
  Attention sentence_attention{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear classifier{nullptr};
};
TORCH_MODULE(HierarchicalAttentionNetwork);

int64_t count_parameters(torch::nn::Module& module);

// The number of parameters a network of these sizes has, computed without
// building it (in double, so absurd sizes from a hostile file do not overflow):
// the model loader checks it against the file's size before allocating.
double expected_parameter_count(const ModelConfig& config, int64_t vocabulary_size, int64_t label_count);

}  // namespace han
