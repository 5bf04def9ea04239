#include "han/kernels/fused.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "han/base/random.h"
#include "han/kernels/layers.h"

namespace han {

using namespace kernels;

void FusedGradients::reset(const ParameterTensors& like) {
  for (int k = 0; k < kParameterCount; ++k) {
    if (k == kEmbedding) continue;
    auto& g = dense[static_cast<size_t>(k)];
    const auto& p = like[static_cast<size_t>(k)];
    if (!g.defined() || !g.sizes().equals(p.sizes())) {
      g = torch::zeros(p.sizes(), torch::kFloat32);
    } else {
      g.zero_();
    }
  }
  embedding_words.clear();
  embedding_rows.clear();
}

FusedBatch plan_fused_batch(const std::vector<const EncodedDocument*>& documents) {
  FusedBatch batch;
  batch.documents = static_cast<int64_t>(documents.size());
  // Every sentence of every document, then the most words first; ties keep
  // reading order, so the plan is deterministic.
  struct SentenceRef {
    int32_t length;
    int32_t document;
    int64_t first_word;
  };
  std::vector<SentenceRef> all;
  std::vector<int64_t> first_sentence(documents.size() + 1, 0);
  bool labeled = !documents.empty();
  for (size_t d = 0; d < documents.size(); ++d) {
    const EncodedDocument& doc = *documents[d];
    if (doc.sentence_lengths.empty()) throw std::invalid_argument("plan_fused_batch: a document without sentences");
    int64_t word = 0;
    for (int32_t length : doc.sentence_lengths) {
      if (length < 1 || word + length > static_cast<int64_t>(doc.word_ids.size())) {
        throw std::invalid_argument("plan_fused_batch: sentence lengths do not match the word ids");
      }
      all.push_back({length, static_cast<int32_t>(d), word});
      word += length;
    }
    first_sentence[d + 1] = static_cast<int64_t>(all.size());
    labeled = labeled && doc.label >= 0;
  }
  std::vector<int32_t> sentence_order(all.size());
  std::iota(sentence_order.begin(), sentence_order.end(), 0);
  std::stable_sort(sentence_order.begin(), sentence_order.end(), [&](int32_t a, int32_t b) {
    return all[static_cast<size_t>(a)].length > all[static_cast<size_t>(b)].length;
  });
  std::vector<int32_t> word_lengths(all.size());
  std::vector<int32_t> row_of_sentence(all.size());
  for (size_t row = 0; row < sentence_order.size(); ++row) {
    word_lengths[row] = all[static_cast<size_t>(sentence_order[row])].length;
    row_of_sentence[static_cast<size_t>(sentence_order[row])] = static_cast<int32_t>(row);
  }
  batch.words = PackedLayout(word_lengths);
  batch.word_ids.resize(static_cast<size_t>(batch.words.tokens()));
  for (int64_t row = 0; row < batch.words.rows(); ++row) {
    const SentenceRef& s = all[static_cast<size_t>(sentence_order[static_cast<size_t>(row)])];
    const auto& ids = documents[static_cast<size_t>(s.document)]->word_ids;
    for (int64_t t = 0; t < s.length; ++t) {
      batch.word_ids[static_cast<size_t>(batch.words.index(t, row))] = ids[static_cast<size_t>(s.first_word + t)];
    }
  }

  std::vector<int32_t> document_order(documents.size());
  std::iota(document_order.begin(), document_order.end(), 0);
  auto sentences_of = [&](int32_t d) { return documents[static_cast<size_t>(d)]->sentence_lengths.size(); };
  std::stable_sort(document_order.begin(), document_order.end(),
                   [&](int32_t a, int32_t b) { return sentences_of(a) > sentences_of(b); });
  std::vector<int32_t> sentence_lengths(documents.size());
  batch.document_row.resize(documents.size());
  for (size_t row = 0; row < document_order.size(); ++row) {
    sentence_lengths[row] = static_cast<int32_t>(sentences_of(document_order[row]));
    batch.document_row[static_cast<size_t>(document_order[row])] = static_cast<int32_t>(row);
  }
  batch.sentences = PackedLayout(sentence_lengths);
  batch.sentence_source.resize(static_cast<size_t>(batch.sentences.tokens()));
  for (int64_t row = 0; row < batch.sentences.rows(); ++row) {
    const auto d = static_cast<size_t>(document_order[static_cast<size_t>(row)]);
    for (int64_t s = 0; s < batch.sentences.length(row); ++s) {
      batch.sentence_source[static_cast<size_t>(batch.sentences.index(s, row))] =
          row_of_sentence[static_cast<size_t>(first_sentence[d] + s)];
    }
  }
  if (labeled) {
    for (const EncodedDocument* doc : documents) batch.labels.push_back(doc->label);
  }
  const bool with_targets =
      std::any_of(documents.begin(), documents.end(), [](const EncodedDocument* doc) { return !doc->targets.empty(); });
  if (with_targets) {
    for (const EncodedDocument* doc : documents) batch.targets.push_back(doc->targets);
  }
  return batch;
}

std::vector<std::vector<const EncodedDocument*>> split_by_tokens(const std::vector<const EncodedDocument*>& documents,
                                                                 int64_t max_tokens) {
  std::vector<std::vector<const EncodedDocument*>> parts;
  int64_t tokens = 0;
  for (const EncodedDocument* d : documents) {
    const auto n = static_cast<int64_t>(d->word_ids.size());
    if (parts.empty() || (tokens + n > max_tokens && !parts.back().empty())) {
      parts.emplace_back();
      tokens = 0;
    }
    parts.back().push_back(d);
    tokens += n;
  }
  return parts;
}

namespace {

// Buffers of one level (words or sentences).
struct LevelBuffers {
  Buffer table;      // [table rows, 6h]: input projections, bias included
  Buffer states[2];  // [tokens, h] per direction, in its step order
  Buffer cache[2];   // [tokens, 4h]
  Buffer outputs;    // [tokens, 2h] in reading order
  Buffer hidden;     // [tokens, a]
  Buffer weights;    // [tokens]
  Buffer pooled;     // [rows, 2h]
  Buffer d_outputs;  // [tokens, 2h]
  Buffer d_table;
  Buffer d_pooled;
  Buffer d_input_weights;        // [6h, in]
  Buffer d_input_bias;           // [6h]
  std::vector<int32_t> winners;  // [rows, 2h]: max pooling's token per feature
};

// model.pooling, parsed once per network.
enum class Pooling { kAttention, kMean, kMax };
Pooling pooling_of(const std::string& name) {
  if (name == "attention") return Pooling::kAttention;
  if (name == "mean") return Pooling::kMean;
  if (name == "max") return Pooling::kMax;
  throw std::invalid_argument("model.pooling must be attention, mean or max, found '" + name + "'");
}

}  // namespace

struct FusedWorkspace::Buffers {
  LevelBuffers word, sentence;
  Buffer gate_hidden, zeros, row_max, row_sum, d_weights;
  GruScratch gru;
  Buffer embedded;         // [distinct words, embed]
  Buffer sentence_inputs;  // [sentence tokens, 2*word_hidden], after dropout
  Buffer d_sentence_inputs;
  Buffer sentence_mask;               // [sentence tokens, 2*word_hidden]
  Buffer document_mask;               // [documents, 2*sentence_hidden]
  Buffer documents;                   // [documents, 2*sentence_hidden], after dropout
  Buffer logits, d_logits;            // [documents, labels]
  std::vector<int32_t> slot_of_word;  // [vocab], -1 when the batch lacks the word
  std::vector<int32_t> slot_words;    // vocabulary id of each slot
  std::vector<int32_t> token_slot;    // [word tokens]
};

FusedWorkspace::FusedWorkspace() : buffers_(std::make_unique<Buffers>()) {}
FusedWorkspace::~FusedWorkspace() = default;
FusedWorkspace::FusedWorkspace(FusedWorkspace&&) noexcept = default;
FusedWorkspace& FusedWorkspace::operator=(FusedWorkspace&&) noexcept = default;

size_t FusedWorkspace::bytes() const {
  size_t total = 0;
  auto add = [&](const Buffer& b) { total += b.data.capacity() * sizeof(float); };
  for (const LevelBuffers* level : {&buffers_->word, &buffers_->sentence}) {
    for (const Buffer* b :
         {&level->table, &level->states[0], &level->states[1], &level->cache[0], &level->cache[1], &level->outputs,
          &level->hidden, &level->weights, &level->pooled, &level->d_outputs, &level->d_table, &level->d_pooled}) {
      add(*b);
    }
  }
  for (const Buffer* b :
       {&buffers_->gate_hidden, &buffers_->embedded, &buffers_->gru.carry, &buffers_->gru.d_gate_hidden,
        &buffers_->sentence_inputs, &buffers_->d_sentence_inputs, &buffers_->sentence_mask}) {
    add(*b);
  }
  return total;
}

// One level's weights as the kernels read them.
struct FusedHan::Level {
  const float* weight_hh[2];
  const float* bias_hh[2];
  AttentionView attention;
  int64_t hidden;
  Pooling pooling;
};

FusedHan::FusedHan(HierarchicalAttentionNetwork network, bool vocabulary_table)
    : network_(std::move(network)), parameters_(network_->parameter_tensors()), label_count_(network_->label_count()) {
  for (int k = 0; k < kParameterCount; ++k) {
    const auto& p = parameters_[static_cast<size_t>(k)];
    if (p.device().type() != torch::kCPU || p.scalar_type() != torch::kFloat32 || !p.is_contiguous()) {
      throw std::invalid_argument(std::string("the fused kernels need contiguous float32 CPU tensors; ") +
                                  parameter_name(k) + " is not");
    }
  }
  torch::NoGradGuard no_grad;
  const auto& p = parameters_;
  word_ih_ = torch::cat({p[kWordForwardIh], p[kWordBackwardIh]}, 0).contiguous();               // [6h, embed]
  word_ih_bias_ = torch::cat({p[kWordForwardBiasIh], p[kWordBackwardBiasIh]}, 0).contiguous();  // [6h]
  sentence_ih_ = torch::cat({p[kSentenceForwardIh], p[kSentenceBackwardIh]}, 0).contiguous();   // [6hs, 2h]
  sentence_ih_bias_ = torch::cat({p[kSentenceForwardBiasIh], p[kSentenceBackwardBiasIh]}, 0).contiguous();
  if (vocabulary_table) {
    word_table_ = torch::addmm(word_ih_bias_, p[kEmbedding].detach(), word_ih_.t()).contiguous();  // [vocab, 6h]
  }
}

namespace {

void check_word_ids(const FusedBatch& batch, int64_t vocabulary) {
  for (int32_t id : batch.word_ids) {
    if (id < 0 || id >= vocabulary) {
      throw std::out_of_range("word id " + std::to_string(id) + " is outside the vocabulary of " +
                              std::to_string(vocabulary));
    }
  }
}

const float* data(const ParameterTensors& tensors, ParameterIndex k) {
  return tensors[static_cast<size_t>(k)].data_ptr<float>();
}

// Which gradients a level's backward pass adds to.
struct LevelGradientIndices {
  ParameterIndex weight_hh[2], bias_hh[2], weight_ih[2], bias_ih[2];
  ParameterIndex attention_weight, attention_bias, attention_context;
};
constexpr LevelGradientIndices kWordGradients{{kWordForwardHh, kWordBackwardHh},
                                              {kWordForwardBiasHh, kWordBackwardBiasHh},
                                              {kWordForwardIh, kWordBackwardIh},
                                              {kWordForwardBiasIh, kWordBackwardBiasIh},
                                              kWordAttentionWeight,
                                              kWordAttentionBias,
                                              kWordAttentionContext};
constexpr LevelGradientIndices kSentenceGradients{{kSentenceForwardHh, kSentenceBackwardHh},
                                                  {kSentenceForwardBiasHh, kSentenceBackwardBiasHh},
                                                  {kSentenceForwardIh, kSentenceBackwardIh},
                                                  {kSentenceForwardBiasIh, kSentenceBackwardBiasIh},
                                                  kSentenceAttentionWeight,
                                                  kSentenceAttentionBias,
                                                  kSentenceAttentionContext};

}  // namespace

// One call's forward (and backward) pass, stage by stage; all buffers live
// in the workspace, so a Pass is a few pointers.
class FusedHan::Pass {
 public:
  Pass(const FusedHan& han, const FusedBatch& batch, FusedWorkspace::Buffers& ws, FusedGradients* gradients,
       const FusedTrainOptions& options)
      : han_(han),
        p_(han.parameters_),
        config_(han.network_->config()),
        batch_(batch),
        ws_(ws),
        gradients_(gradients),
        options_(options),
        training_(gradients != nullptr),
        dropout_(training_ && options.dropout > 0),
        labels_(han.label_count_),
        docs_(batch.documents),
        word_out_(2 * config_.word_hidden),
        doc_dim_(2 * config_.sentence_hidden),
        word_level_{{data(p_, kWordForwardHh), data(p_, kWordBackwardHh)},
                    {data(p_, kWordForwardBiasHh), data(p_, kWordBackwardBiasHh)},
                    {data(p_, kWordAttentionWeight), data(p_, kWordAttentionBias), data(p_, kWordAttentionContext),
                     word_out_, config_.word_attention},
                    config_.word_hidden,
                    pooling_of(config_.pooling)},
        sentence_level_{{data(p_, kSentenceForwardHh), data(p_, kSentenceBackwardHh)},
                        {data(p_, kSentenceForwardBiasHh), data(p_, kSentenceBackwardBiasHh)},
                        {data(p_, kSentenceAttentionWeight), data(p_, kSentenceAttentionBias),
                         data(p_, kSentenceAttentionContext), doc_dim_, config_.sentence_attention},
                        config_.sentence_hidden,
                        pooling_of(config_.pooling)} {}

  void forward_words();
  void forward_sentences();
  void classify(FusedOutput* output, bool with_attention);
  FusedStepResult loss_gradient();
  FusedStepResult multilabel_loss_gradient();
  void backward();

 private:
  void word_projections();
  void draw_dropout_masks();
  void level_forward(const PackedLayout& layout, const float* table, const int32_t* slot, const Level& level,
                     LevelBuffers& lb);
  float* level_backward(const PackedLayout& layout, const int32_t* slot, int64_t table_rows, const Level& level,
                        LevelBuffers& lb, const LevelGradientIndices& gi, const float* inputs, int64_t input_size);
  float* grad(ParameterIndex k) const { return gradients_->dense[static_cast<size_t>(k)].data_ptr<float>(); }

  const FusedHan& han_;
  const ParameterTensors& p_;
  const ModelConfig& config_;
  const FusedBatch& batch_;
  FusedWorkspace::Buffers& ws_;
  FusedGradients* gradients_;
  const FusedTrainOptions& options_;
  const bool training_, dropout_;
  const int64_t labels_, docs_, word_out_, doc_dim_;
  const Level word_level_, sentence_level_;
  // Set by the forward stages for the backward ones.
  const float* word_table_ = nullptr;  // [distinct or vocab, 6hw]
  const int32_t* word_slot_ = nullptr;
  int64_t distinct_ = 0;
  float* sentence_inputs_ = nullptr;  // [sentence tokens, 2hw], after dropout
  float* sentence_mask_ = nullptr;
  float* document_mask_ = nullptr;
  float* documents_ = nullptr;  // [docs, 2hs] in the documents' packed order, after dropout
  float* logits_ = nullptr;     // [docs, labels] likewise
};

void FusedHan::Pass::level_forward(const PackedLayout& layout, const float* table, const int32_t* slot,
                                   const Level& level, LevelBuffers& lb) {
  const int64_t n = layout.tokens(), h = level.hidden;
  for (int d = 0; d < 2; ++d) {
    const GruDirection g{layout, table, 6 * h, slot, d, level.weight_hh[d], level.bias_hh[d], h};
    gru_forward(g, lb.states[d].get(n * h), training_ ? lb.cache[d].get(n * 4 * h) : nullptr, ws_.gate_hidden,
                ws_.zeros);
  }
  // [tokens, 2h] in reading order: the backward direction's state of a
  // token sits at its mirror in that direction's step order.
  float* outputs = lb.outputs.get(n * 2 * h);
  const float* forward_states = lb.states[0].data.data();
  const float* backward_states = lb.states[1].data.data();
  const auto& mirror = layout.mirror();
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(outputs + i * 2 * h, forward_states + i * h, static_cast<size_t>(h) * sizeof(float));
    std::memcpy(outputs + i * 2 * h + h, backward_states + static_cast<int64_t>(mirror[static_cast<size_t>(i)]) * h,
                static_cast<size_t>(h) * sizeof(float));
  }
  float* weights = lb.weights.get(n);
  float* pooled = lb.pooled.get(layout.rows() * 2 * h);
  switch (level.pooling) {
    case Pooling::kAttention:
      attention_forward(layout, outputs, level.attention, lb.hidden.get(n * level.attention.size), weights, pooled,
                        ws_.row_max, ws_.row_sum);
      break;
    case Pooling::kMean:
      mean_pool_forward(layout, outputs, 2 * h, weights, pooled);
      break;
    case Pooling::kMax:
      lb.winners.resize(static_cast<size_t>(layout.rows() * 2 * h));
      max_pool_forward(layout, outputs, 2 * h, lb.winners.data(), weights, pooled);
      break;
  }
}

// The word GRU's input projections: the vocabulary table (inference), or
// those of the batch's distinct words, [distinct, 6hw].
void FusedHan::Pass::word_projections() {
  if (han_.word_table_.defined() && !training_) {
    word_table_ = han_.word_table_.data_ptr<float>();
    word_slot_ = batch_.word_ids.data();
    return;
  }
  const int64_t embed = config_.embedding_dim, hw = config_.word_hidden, vocabulary = p_[kEmbedding].size(0);
  auto& slot_of = ws_.slot_of_word;
  if (static_cast<int64_t>(slot_of.size()) < vocabulary) slot_of.assign(static_cast<size_t>(vocabulary), -1);
  ws_.slot_words.clear();
  ws_.token_slot.resize(static_cast<size_t>(batch_.words.tokens()));
  for (int64_t i = 0; i < batch_.words.tokens(); ++i) {
    const int32_t id = batch_.word_ids[static_cast<size_t>(i)];
    int32_t& slot = slot_of[static_cast<size_t>(id)];
    if (slot < 0) {
      slot = static_cast<int32_t>(ws_.slot_words.size());
      ws_.slot_words.push_back(id);
    }
    ws_.token_slot[static_cast<size_t>(i)] = slot;
  }
  for (int32_t id : ws_.slot_words) slot_of[static_cast<size_t>(id)] = -1;  // clean for the next call
  distinct_ = static_cast<int64_t>(ws_.slot_words.size());
  float* embedded = ws_.embedded.get(distinct_ * embed);  // [distinct, embed]
  const float* embedding = data(p_, kEmbedding);
  for (int64_t u = 0; u < distinct_; ++u) {
    std::memcpy(embedded + u * embed, embedding + static_cast<int64_t>(ws_.slot_words[static_cast<size_t>(u)]) * embed,
                static_cast<size_t>(embed) * sizeof(float));
  }
  float* table = ws_.word.table.get(distinct_ * 6 * hw);
  matmul(embedded, false, han_.word_ih_.data_ptr<float>(), true, table, distinct_, embed, 6 * hw,
         false);  // [distinct, 6hw]
  add_rows_bias(table, distinct_, 6 * hw, han_.word_ih_bias_.data_ptr<float>());
  word_table_ = table;
  word_slot_ = ws_.token_slot.data();
}

void FusedHan::Pass::forward_words() {
  word_projections();
  level_forward(batch_.words, word_table_, word_slot_, word_level_, ws_.word);
}

// Masks that depend on options.dropout_seed and each document's place in
// the whole batch: the same whatever the threads.
void FusedHan::Pass::draw_dropout_masks() {
  const PackedLayout& sentences = batch_.sentences;
  sentence_mask_ = ws_.sentence_mask.get(sentences.tokens() * word_out_);
  document_mask_ = ws_.document_mask.get(docs_ * doc_dim_);
  const auto drop = static_cast<float>(options_.dropout);
  const float scale = 1.0f / (1.0f - drop);
  for (int64_t d = 0; d < docs_; ++d) {
    SplitMix64 rng{options_.dropout_seed ^
                   (static_cast<uint64_t>(options_.first_document + d) * 0xd1b54a32d192ed03ULL)};
    const int64_t row = batch_.document_row[static_cast<size_t>(d)];
    for (int64_t s = 0; s < sentences.length(row); ++s) {
      float* mask = sentence_mask_ + sentences.index(s, row) * word_out_;
      for (int64_t k = 0; k < word_out_; ++k) mask[k] = rng.uniform() < drop ? 0.0f : scale;
    }
    float* mask = document_mask_ + row * doc_dim_;
    for (int64_t k = 0; k < doc_dim_; ++k) mask[k] = rng.uniform() < drop ? 0.0f : scale;
  }
}

// The sentence vectors into the documents' packed order, then the sentence level.
void FusedHan::Pass::forward_sentences() {
  const int64_t sentence_tokens = batch_.sentences.tokens(), hs = config_.sentence_hidden;
  sentence_inputs_ = ws_.sentence_inputs.get(sentence_tokens * word_out_);  // [sentence tokens, 2hw]
  const float* sentence_vectors = ws_.word.pooled.data.data();              // [sentences, 2hw]
  for (int64_t j = 0; j < sentence_tokens; ++j) {
    std::memcpy(sentence_inputs_ + j * word_out_,
                sentence_vectors + static_cast<int64_t>(batch_.sentence_source[static_cast<size_t>(j)]) * word_out_,
                static_cast<size_t>(word_out_) * sizeof(float));
  }
  if (dropout_) {
    draw_dropout_masks();
    for (int64_t k = 0; k < sentence_tokens * word_out_; ++k) sentence_inputs_[k] *= sentence_mask_[k];
  }
  float* sentence_table = ws_.sentence.table.get(sentence_tokens * 6 * hs);  // [sentence tokens, 6hs]
  matmul(sentence_inputs_, false, han_.sentence_ih_.data_ptr<float>(), true, sentence_table, sentence_tokens, word_out_,
         6 * hs, false);
  add_rows_bias(sentence_table, sentence_tokens, 6 * hs, han_.sentence_ih_bias_.data_ptr<float>());
  level_forward(batch_.sentences, sentence_table, nullptr, sentence_level_, ws_.sentence);
}

// The classifier, its rows in the documents' packed order; `output` by input position.
void FusedHan::Pass::classify(FusedOutput* output, bool with_attention) {
  documents_ = ws_.documents.get(docs_ * doc_dim_);  // [docs, 2hs]
  std::memcpy(documents_, ws_.sentence.pooled.data.data(), static_cast<size_t>(docs_ * doc_dim_) * sizeof(float));
  if (dropout_) {
    for (int64_t k = 0; k < docs_ * doc_dim_; ++k) documents_[k] *= document_mask_[k];
  }
  logits_ = ws_.logits.get(docs_ * labels_);  // [docs, labels]
  matmul(documents_, false, data(p_, kClassifierWeight), true, logits_, docs_, doc_dim_, labels_, false);
  add_rows_bias(logits_, docs_, labels_, data(p_, kClassifierBias));
  if (!output) return;
  output->logits.resize(static_cast<size_t>(docs_ * labels_));
  for (int64_t d = 0; d < docs_; ++d) {
    std::memcpy(output->logits.data() + d * labels_,
                logits_ + static_cast<int64_t>(batch_.document_row[static_cast<size_t>(d)]) * labels_,
                static_cast<size_t>(labels_) * sizeof(float));
  }
  if (with_attention) {
    output->word_attention.assign(ws_.word.weights.data.begin(), ws_.word.weights.data.begin() + batch_.words.tokens());
    output->sentence_attention.assign(ws_.sentence.weights.data.begin(),
                                      ws_.sentence.weights.data.begin() + batch_.sentences.tokens());
  }
}

// Multi-label: each label's binary cross-entropy, summed, and its gradient
// sigmoid(z) - y scaled by options.loss_scale into ws.d_logits.
FusedStepResult FusedHan::Pass::multilabel_loss_gradient() {
  if (batch_.targets.size() != static_cast<size_t>(docs_)) {
    throw std::invalid_argument("train_step: a multi-label step needs every document's targets");
  }
  FusedStepResult result;
  const auto scale = static_cast<float>(options_.loss_scale);
  float* d_logits = ws_.d_logits.get(docs_ * labels_);
  std::vector<char> gold(static_cast<size_t>(labels_));
  for (int64_t d = 0; d < docs_; ++d) {
    const int64_t row = batch_.document_row[static_cast<size_t>(d)];
    std::fill(gold.begin(), gold.end(), 0);
    for (const int32_t label : batch_.targets[static_cast<size_t>(d)]) {
      if (label < 0 || label >= labels_) throw std::out_of_range("label id outside the model's labels");
      gold[static_cast<size_t>(label)] = 1;
    }
    const float* z = logits_ + row * labels_;
    float* dz = d_logits + row * labels_;
    bool all_right = true;
    for (int64_t k = 0; k < labels_; ++k) {
      const double x = z[k];
      const bool y = gold[static_cast<size_t>(k)] != 0;
      // log(1 + exp(-|x|)) + max(x, 0) - x y: stable for any x.
      result.loss_sum += std::log1p(std::exp(-std::abs(x))) + std::max(x, 0.0) - (y ? x : 0.0);
      const double probability = 1.0 / (1.0 + std::exp(-x));
      dz[k] = static_cast<float>(probability - (y ? 1.0 : 0.0)) * scale;
      all_right = all_right && ((x > 0) == y);
    }
    result.correct += all_right;
  }
  return result;
}

// Cross-entropy (times the label's class weight), and its gradient scaled by
// options.loss_scale into ws.d_logits.
FusedStepResult FusedHan::Pass::loss_gradient() {
  if (options_.multi_label) return multilabel_loss_gradient();
  FusedStepResult result;
  const auto scale = static_cast<float>(options_.loss_scale);
  float* d_logits = ws_.d_logits.get(docs_ * labels_);
  for (int64_t d = 0; d < docs_; ++d) {
    const int64_t row = batch_.document_row[static_cast<size_t>(d)];
    const int64_t label = batch_.labels[static_cast<size_t>(d)];
    if (label < 0 || label >= labels_) throw std::out_of_range("label id outside the model's labels");
    const float* z = logits_ + row * labels_;
    float* dz = d_logits + row * labels_;
    const auto [best, sum] = summarize_logits(z, labels_);
    const float weight = options_.class_weights ? options_.class_weights[label] : 1.0f;
    result.loss_sum += weight * (std::log(sum) - static_cast<double>(z[label] - z[best]));
    result.correct += best == label;
    for (int64_t k = 0; k < labels_; ++k) {
      const auto probability = static_cast<float>(std::exp(static_cast<double>(z[k] - z[best])) / sum);
      dz[k] = (probability - (k == label ? 1.0f : 0.0f)) * weight * scale;
    }
  }
  return result;
}

// From lb.d_pooled down through attention and both GRU directions: adds the
// level's weight gradients and returns d_table [table rows, 6h].
float* FusedHan::Pass::level_backward(const PackedLayout& layout, const int32_t* slot, int64_t table_rows,
                                      const Level& level, LevelBuffers& lb, const LevelGradientIndices& gi,
                                      const float* inputs, int64_t input_size) {
  const int64_t n = layout.tokens(), h = level.hidden;
  float* d_outputs = lb.d_outputs.get(n * 2 * h);  // [tokens, 2h]
  switch (level.pooling) {
    case Pooling::kAttention:
      attention_backward(layout, lb.outputs.data.data(), level.attention, lb.hidden.data.data(), lb.weights.data.data(),
                         lb.d_pooled.data.data(), d_outputs,
                         {grad(gi.attention_weight), grad(gi.attention_bias), grad(gi.attention_context)},
                         ws_.d_weights, ws_.row_sum);
      break;
    case Pooling::kMean:
      mean_pool_backward(layout, lb.weights.data.data(), lb.d_pooled.data.data(), 2 * h, d_outputs);
      break;
    case Pooling::kMax:
      max_pool_backward(layout, lb.winners.data(), lb.d_pooled.data.data(), 2 * h, d_outputs);
      break;
  }
  float* d_table = lb.d_table.zeros(table_rows * 6 * h);  // [table rows, 6h]
  for (int d = 0; d < 2; ++d) {
    const GruDirection direction{layout, nullptr, 6 * h, slot, d, level.weight_hh[d], level.bias_hh[d], h};
    gru_backward(direction, lb.states[d].data.data(), lb.cache[d].data.data(), d_outputs,
                 {d_table, grad(gi.weight_hh[d]), grad(gi.bias_hh[d])}, ws_.gru);
  }
  // Input weights: [6h, in] = d_table^T inputs, split between the directions.
  float* d_ih = lb.d_input_weights.get(6 * h * input_size);
  matmul(d_table, true, inputs, false, d_ih, 6 * h, table_rows, input_size, false);
  float* d_bias = lb.d_input_bias.zeros(6 * h);
  add_column_sums(d_table, table_rows, 6 * h, d_bias);
  for (int d = 0; d < 2; ++d) {
    float* weight = grad(gi.weight_ih[d]);
    float* bias = grad(gi.bias_ih[d]);
    const float* from = d_ih + d * 3 * h * input_size;
    for (int64_t k = 0; k < 3 * h * input_size; ++k) weight[k] += from[k];
    for (int64_t k = 0; k < 3 * h; ++k) bias[k] += d_bias[d * 3 * h + k];
  }
  return d_table;
}

void FusedHan::Pass::backward() {
  const float* d_logits = ws_.d_logits.data.data();
  matmul(d_logits, true, documents_, false, grad(kClassifierWeight), labels_, docs_, doc_dim_, true);  // [labels, 2hs]
  add_column_sums(d_logits, docs_, labels_, grad(kClassifierBias));
  float* d_documents = ws_.sentence.d_pooled.get(docs_ * doc_dim_);  // [docs, 2hs]
  matmul(d_logits, false, data(p_, kClassifierWeight), false, d_documents, docs_, labels_, doc_dim_, false);
  if (dropout_) {
    for (int64_t k = 0; k < docs_ * doc_dim_; ++k) d_documents[k] *= document_mask_[k];
  }

  // Sentence level, then back to the sentence vectors.
  const int64_t sentence_tokens = batch_.sentences.tokens();
  float* d_sentence_table = level_backward(batch_.sentences, nullptr, sentence_tokens, sentence_level_, ws_.sentence,
                                           kSentenceGradients, sentence_inputs_, word_out_);
  float* d_sentence_inputs = ws_.d_sentence_inputs.get(sentence_tokens * word_out_);  // [sentence tokens, 2hw]
  matmul(d_sentence_table, false, han_.sentence_ih_.data_ptr<float>(), false, d_sentence_inputs, sentence_tokens,
         6 * config_.sentence_hidden, word_out_, false);
  if (dropout_) {
    for (int64_t k = 0; k < sentence_tokens * word_out_; ++k) d_sentence_inputs[k] *= sentence_mask_[k];
  }
  float* d_sentence_vectors = ws_.word.d_pooled.get(batch_.words.rows() * word_out_);  // [sentences, 2hw]
  for (int64_t j = 0; j < sentence_tokens; ++j) {                                      // each sentence appears once
    std::memcpy(d_sentence_vectors + static_cast<int64_t>(batch_.sentence_source[static_cast<size_t>(j)]) * word_out_,
                d_sentence_inputs + j * word_out_, static_cast<size_t>(word_out_) * sizeof(float));
  }

  // Word level, down to the distinct words' embeddings.
  const int64_t embed = config_.embedding_dim;
  float* d_word_table = level_backward(batch_.words, word_slot_, distinct_, word_level_, ws_.word, kWordGradients,
                                       ws_.embedded.data.data(), embed);
  if (options_.embedding_gradient) {
    gradients_->embedding_words.insert(gradients_->embedding_words.end(), ws_.slot_words.begin(), ws_.slot_words.end());
    const size_t first = gradients_->embedding_rows.size();
    gradients_->embedding_rows.resize(first + static_cast<size_t>(distinct_ * embed));
    matmul(d_word_table, false, han_.word_ih_.data_ptr<float>(), false, gradients_->embedding_rows.data() + first,
           distinct_, 6 * config_.word_hidden, embed, false);  // [distinct, embed]
  }
}

FusedStepResult FusedHan::run(const FusedBatch& batch, FusedWorkspace& workspace, FusedOutput* output,
                              bool with_attention, FusedGradients* gradients, const FusedTrainOptions& options) const {
  const bool training = gradients != nullptr;
  if (training && static_cast<int64_t>(batch.labels.size()) != batch.documents) {
    throw std::invalid_argument("train_step needs a batch whose documents all have labels");
  }
  if (batch.documents == 0) {
    if (output) output->logits.clear();
    return {};
  }
  check_word_ids(batch, parameters_[kEmbedding].size(0));
  Pass pass(*this, batch, *workspace.buffers_, gradients, options);
  pass.forward_words();
  pass.forward_sentences();
  pass.classify(output, with_attention);
  if (!training) return {};
  const FusedStepResult result = pass.loss_gradient();
  pass.backward();
  return result;
}

void FusedHan::forward(const FusedBatch& batch, FusedWorkspace& workspace, FusedOutput& output,
                       bool with_attention) const {
  run(batch, workspace, &output, with_attention, nullptr, FusedTrainOptions{});
}

FusedStepResult FusedHan::train_step(const FusedBatch& batch, FusedWorkspace& workspace, FusedGradients& gradients,
                                     const FusedTrainOptions& options) const {
  return run(batch, workspace, nullptr, false, &gradients, options);
}

LogitRow summarize_logits(const float* z, int64_t labels) {
  LogitRow row;
  row.best = std::max_element(z, z + labels) - z;
  row.sum = 0;
  for (int64_t k = 0; k < labels; ++k) row.sum += std::exp(static_cast<double>(z[k] - z[row.best]));
  return row;
}

std::pair<torch::Tensor, torch::Tensor> dense_attention(const FusedBatch& batch, const FusedOutput& output) {
  int64_t max_sents = 1, max_words = 1;
  if (batch.sentences.rows() > 0) max_sents = batch.sentences.length(0);
  if (batch.words.rows() > 0) max_words = batch.words.length(0);
  auto sentence = torch::zeros({batch.documents, max_sents});         // [docs, max_sents]
  auto word = torch::zeros({batch.documents, max_sents, max_words});  // [docs, max_sents, max_words]
  auto s = sentence.accessor<float, 2>();
  auto w = word.accessor<float, 3>();
  for (int64_t d = 0; d < batch.documents; ++d) {
    const int64_t row = batch.document_row[static_cast<size_t>(d)];
    for (int64_t k = 0; k < batch.sentences.length(row); ++k) {
      s[d][k] = output.sentence_attention[static_cast<size_t>(batch.sentences.index(k, row))];
      const int64_t words_row = batch.sentence_row(d, k);
      for (int64_t t = 0; t < batch.words.length(words_row); ++t) {
        w[d][k][t] = output.word_attention[static_cast<size_t>(batch.words.index(t, words_row))];
      }
    }
  }
  return {sentence, word};
}

double han_flops(const ModelConfig& c, int64_t label_count, int64_t tokens, int64_t sentences, bool training) {
  auto level = [](double in, double h, double a) {
    return 2 * in * 6 * h        // input projections, both directions
           + 2 * 2 * h * 3 * h   // recurrent products, both directions
           + 2 * 2 * h * a       // attention projection
           + 2 * a + 2 * 2 * h;  // score and weighted sum
  };
  const double forward =
      static_cast<double>(tokens) * level(c.embedding_dim, c.word_hidden, c.word_attention) +
      static_cast<double>(sentences) * level(2.0 * c.word_hidden, c.sentence_hidden, c.sentence_attention) +
      2.0 * 2 * c.sentence_hidden * static_cast<double>(label_count);
  // Backward: two products (input and weight gradients) for each forward one.
  return training ? 3 * forward : forward;
}

}  // namespace han
