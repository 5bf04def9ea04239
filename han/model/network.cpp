#include "han/model/network.h"

#include <limits>
#include <stdexcept>
#include <string>

namespace han {

namespace {

// In ParameterIndex order; the names are LibTorch's, from register_module.
constexpr std::array<const char*, kParameterCount> kParameterNames = {
    "embedding.weight",
    "word_encoder.forward_gru.weight_ih_l0",
    "word_encoder.forward_gru.weight_hh_l0",
    "word_encoder.forward_gru.bias_ih_l0",
    "word_encoder.forward_gru.bias_hh_l0",
    "word_encoder.backward_gru.weight_ih_l0",
    "word_encoder.backward_gru.weight_hh_l0",
    "word_encoder.backward_gru.bias_ih_l0",
    "word_encoder.backward_gru.bias_hh_l0",
    "word_attention.projection.weight",
    "word_attention.projection.bias",
    "word_attention.context",
    "sentence_encoder.forward_gru.weight_ih_l0",
    "sentence_encoder.forward_gru.weight_hh_l0",
    "sentence_encoder.forward_gru.bias_ih_l0",
    "sentence_encoder.forward_gru.bias_hh_l0",
    "sentence_encoder.backward_gru.weight_ih_l0",
    "sentence_encoder.backward_gru.weight_hh_l0",
    "sentence_encoder.backward_gru.bias_ih_l0",
    "sentence_encoder.backward_gru.bias_hh_l0",
    "sentence_attention.projection.weight",
    "sentence_attention.projection.bias",
    "sentence_attention.context",
    "classifier.weight",
    "classifier.bias",
};

// LibTorch's GRU keeps layer 0's weights in this order.
std::array<torch::Tensor, 4> gru_weights(const torch::nn::GRU& gru) {
  const std::vector<torch::Tensor> all = gru->all_weights();
  if (all.size() != 4) throw std::logic_error("expected a one-layer GRU with biases");
  return {all[0], all[1], all[2], all[3]};
}

}  // namespace

const char* parameter_name(int index) {
  if (index < 0 || index >= kParameterCount) throw std::out_of_range("parameter index");
  return kParameterNames[static_cast<size_t>(index)];
}

torch::Tensor length_mask(const torch::Tensor& lengths, int64_t steps) {
  auto positions = torch::arange(steps, lengths.options()).unsqueeze(0);  // [1, steps]
  return positions < lengths.unsqueeze(1);                                // [rows, steps]
}

torch::Tensor masked_softmax(const torch::Tensor& scores, const torch::Tensor& mask) {
  // -inf on padding: exp gives exactly 0 there, and softmax subtracts each row's max.
  auto masked = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
  return torch::softmax(masked, 1);
}

torch::Tensor reversal_index(const torch::Tensor& lengths, int64_t steps) {
  auto positions = torch::arange(steps, lengths.options()).unsqueeze(0);  // [1, steps]
  auto len = lengths.unsqueeze(1);                                        // [rows, 1]
  return torch::where(positions < len, len - 1 - positions, positions);   // [rows, steps]
}

BiGruImpl::BiGruImpl(int64_t input_size, int64_t hidden_size) {
  auto options = torch::nn::GRUOptions(input_size, hidden_size).batch_first(true);
  forward_gru = register_module("forward_gru", torch::nn::GRU(options));
  backward_gru = register_module("backward_gru", torch::nn::GRU(options));
}

std::array<torch::Tensor, 8> BiGruImpl::weights() const {
  const auto f = gru_weights(forward_gru), b = gru_weights(backward_gru);
  return {f[0], f[1], f[2], f[3], b[0], b[1], b[2], b[3]};
}

torch::Tensor BiGruImpl::forward(const torch::Tensor& inputs, const torch::Tensor& reversed_inputs,
                                 const torch::Tensor& reverse_index) {
  auto forward_states = std::get<0>(forward_gru->forward(inputs));               // [rows, steps, hidden]
  auto backward_reversed = std::get<0>(backward_gru->forward(reversed_inputs));  // [rows, steps, hidden]
  auto index = reverse_index.unsqueeze(2).expand_as(backward_reversed);
  auto backward_states = backward_reversed.gather(1, index);  // back in reading order
  return torch::cat({forward_states, backward_states}, 2);    // [rows, steps, 2*hidden]
}

AttentionImpl::AttentionImpl(int64_t input_size, int64_t attention_size) {
  projection = register_module("projection", torch::nn::Linear(input_size, attention_size));
  context = register_parameter("context", torch::empty({attention_size}).uniform_(-0.1, 0.1));
}

std::array<torch::Tensor, 3> AttentionImpl::weights() const { return {projection->weight, projection->bias, context}; }

std::pair<torch::Tensor, torch::Tensor> AttentionImpl::forward(const torch::Tensor& states, const torch::Tensor& mask) {
  auto hidden = torch::tanh(projection->forward(states));             // [rows, steps, attention]
  auto scores = torch::matmul(hidden, context);                       // [rows, steps]
  auto weights = masked_softmax(scores, mask);                        // [rows, steps]
  auto pooled = torch::bmm(weights.unsqueeze(1), states).squeeze(1);  // [rows, input]
  return {pooled, weights};
}

std::pair<torch::Tensor, torch::Tensor> pool_states(const std::string& pooling, Attention& attention,
                                                    const torch::Tensor& states, const torch::Tensor& mask) {
  if (pooling == "attention") return attention->forward(states, mask);
  const auto real = mask.to(states.scalar_type());  // [rows, steps]
  if (pooling == "mean") {
    auto weights = real / real.sum(1, true);                            // [rows, steps]
    auto pooled = torch::bmm(weights.unsqueeze(1), states).squeeze(1);  // [rows, input]
    return {pooled, weights};
  }
  if (pooling != "max") throw std::invalid_argument("model.pooling must be attention, mean or max");
  auto candidates = states.masked_fill(mask.logical_not().unsqueeze(2), -std::numeric_limits<float>::infinity());
  auto [pooled, winners] = candidates.max(1);  // [rows, input] each: the value and the position it came from
  auto share = torch::full(winners.sizes(), 1.0 / static_cast<double>(states.size(2)), states.options());
  auto weights = torch::zeros_like(real).scatter_add(1, winners, share);  // [rows, steps]
  return {pooled, weights};
}

HierarchicalAttentionNetworkImpl::HierarchicalAttentionNetworkImpl(const ModelConfig& config, int64_t vocabulary_size,
                                                                   int64_t label_count)
    : config_(config), vocabulary_size_(vocabulary_size), label_count_(label_count) {
  embedding = register_module("embedding",
                              torch::nn::Embedding(torch::nn::EmbeddingOptions(vocabulary_size, config.embedding_dim)));
  {
    torch::NoGradGuard no_grad;
    embedding->weight.uniform_(-0.1, 0.1);
  }
  word_encoder = register_module("word_encoder", BiGru(config.embedding_dim, config.word_hidden));
  word_attention = register_module("word_attention", Attention(2 * config.word_hidden, config.word_attention));
  sentence_encoder = register_module("sentence_encoder", BiGru(2 * config.word_hidden, config.sentence_hidden));
  sentence_attention =
      register_module("sentence_attention", Attention(2 * config.sentence_hidden, config.sentence_attention));
  dropout = register_module("dropout", torch::nn::Dropout(config.dropout));
  classifier = register_module("classifier", torch::nn::Linear(2 * config.sentence_hidden, label_count));
  // The roles and the registered names must agree: the kernels read one, files the other.
  const ParameterTensors tensors = parameter_tensors();
  const auto named = named_parameters();
  for (int k = 0; k < kParameterCount; ++k) {
    const torch::Tensor* found = named.find(parameter_name(k));
    if (!found || !found->is_same(tensors[static_cast<size_t>(k)]))
      throw std::logic_error(std::string("parameter ") + parameter_name(k) + " is not where ParameterIndex says");
  }
}

ParameterTensors HierarchicalAttentionNetworkImpl::parameter_tensors() const {
  const auto word = word_encoder->weights(), sentence = sentence_encoder->weights();
  const auto word_att = word_attention->weights(), sentence_att = sentence_attention->weights();
  return {embedding->weight, word[0],     word[1],         word[2],         word[3],         word[4],
          word[5],           word[6],     word[7],         word_att[0],     word_att[1],     word_att[2],
          sentence[0],       sentence[1], sentence[2],     sentence[3],     sentence[4],     sentence[5],
          sentence[6],       sentence[7], sentence_att[0], sentence_att[1], sentence_att[2], classifier->weight,
          classifier->bias};
}

HanOutput HierarchicalAttentionNetworkImpl::forward(const Batch& batch, bool with_attention) {
  const int64_t docs = batch.word_ids.size(0);
  const int64_t max_sents = batch.word_ids.size(1);
  const int64_t max_words = batch.word_ids.size(2);
  const int64_t word_dim = 2 * config_.word_hidden;

  // Real sentences only, longest first: [sentences, max_words]
  auto sentence_ids = batch.word_ids.view({docs * max_sents, max_words}).index_select(0, batch.sentence_order);
  auto sentence_lengths = batch.word_counts.view({docs * max_sents}).index_select(0, batch.sentence_order);

  // Word level, chunk by chunk of similar lengths. One embedding lookup for
  // all chunks: each lookup's backward builds a dense vocabulary-sized gradient.
  const size_t chunks = batch.chunk_lengths.size();
  std::vector<torch::Tensor> chunk_ids, chunk_lengths;
  for (size_t c = 0; c < chunks; ++c) {
    const int64_t start = batch.chunk_starts[c];
    const int64_t rows = batch.chunk_starts[c + 1] - start;
    chunk_ids.push_back(sentence_ids.narrow(0, start, rows).narrow(1, 0, batch.chunk_lengths[c]).reshape({-1}));
    chunk_lengths.push_back(sentence_lengths.narrow(0, start, rows));
  }
  auto embedded_all = embedding->forward(torch::cat(chunk_ids, 0));  // [chunk tokens, embed]
  std::vector<torch::Tensor> sentence_vectors, word_weights;
  int64_t offset = 0;
  for (size_t c = 0; c < chunks; ++c) {
    const int64_t steps = batch.chunk_lengths[c];
    const auto& lengths = chunk_lengths[c];  // [rows]
    const int64_t rows = lengths.size(0);
    auto embedded = embedded_all.narrow(0, offset, rows * steps).view({rows, steps, -1});  // [rows, steps, embed]
    offset += rows * steps;
    auto reverse = reversal_index(lengths, steps);  // [rows, steps]
    auto embedded_reversed = embedded.gather(1, reverse.unsqueeze(2).expand_as(embedded));
    auto states = word_encoder->forward(embedded, embedded_reversed, reverse);  // [rows, steps, 2*word_hidden]
    auto [vectors, weights] = pool_states(config_.pooling, word_attention, states, length_mask(lengths, steps));
    sentence_vectors.push_back(vectors);  // [rows, 2*word_hidden]
    if (with_attention) word_weights.push_back(torch::constant_pad_nd(weights, {0, max_words - steps}));
  }
  auto sorted_vectors = torch::cat(sentence_vectors, 0);  // [sentences, 2*word_hidden]

  // Back into the document grid, zeros on padding sentences: [docs, max_sents, 2*word_hidden]
  auto grid = torch::zeros({docs * max_sents, word_dim}, sorted_vectors.options())
                  .index_copy(0, batch.sentence_order, sorted_vectors)
                  .view({docs, max_sents, word_dim});
  grid = dropout->forward(grid);

  // Sentence level.
  auto reverse = reversal_index(batch.sentence_counts, max_sents);  // [docs, max_sents]
  auto grid_reversed = grid.gather(1, reverse.unsqueeze(2).expand_as(grid));
  auto states = sentence_encoder->forward(grid, grid_reversed, reverse);  // [docs, max_sents, 2*sent_hidden]
  auto [document_vectors, sentence_weights] =
      pool_states(config_.pooling, sentence_attention, states, length_mask(batch.sentence_counts, max_sents));

  HanOutput output;
  output.logits = classifier->forward(dropout->forward(document_vectors));  // [docs, labels]
  if (with_attention) {
    output.sentence_attention = sentence_weights;
    auto sorted_weights = torch::cat(word_weights, 0);  // [sentences, max_words]
    output.word_attention = torch::zeros({docs * max_sents, max_words}, sorted_weights.options())
                                .index_copy(0, batch.sentence_order, sorted_weights)
                                .view({docs, max_sents, max_words});
  }
  return output;
}

double expected_parameter_count(const ModelConfig& c, int64_t vocabulary_size, int64_t label_count) {
  // Two unidirectional GRUs: weight_ih [3h, in], weight_hh [3h, h], two biases [3h].
  auto bigru = [](double in, double h) { return 2 * (3 * h * in + 3 * h * h + 6 * h); };
  // Projection [a, in] with bias [a], context vector [a].
  auto attention = [](double in, double a) { return in * a + 2 * a; };
  const double e = c.embedding_dim, hw = c.word_hidden, hs = c.sentence_hidden;
  return static_cast<double>(vocabulary_size) * e + bigru(e, hw) + attention(2 * hw, c.word_attention) +
         bigru(2 * hw, hs) + attention(2 * hs, c.sentence_attention) + 2 * hs * static_cast<double>(label_count) +
         static_cast<double>(label_count);
}

int64_t count_parameters(torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace han
