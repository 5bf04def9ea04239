// The fused kernels against the reference network (model.h): the same
// outputs, attention and gradients, on random batches full of padding.
#include "torch_catch.h"

#include <random>

#include "han/kernels/fused.h"

using namespace han;

namespace {

ModelConfig small_config() {
  ModelConfig c;
  c.embedding_dim = 12;
  c.word_hidden = 7;
  c.sentence_hidden = 5;
  c.word_attention = 9;
  c.sentence_attention = 6;
  return c;
}

// Documents of 1-7 sentences of 1-15 words, so every batch pads both levels.
std::vector<EncodedDocument> random_documents(int count, int64_t vocabulary, int64_t labels, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<EncodedDocument> docs(static_cast<size_t>(count));
  for (auto& d : docs) {
    const int sentences = 1 + static_cast<int>(rng() % 7);
    for (int s = 0; s < sentences; ++s) {
      const int words = 1 + static_cast<int>(rng() % 15);
      d.sentence_lengths.push_back(words);
      for (int w = 0; w < words; ++w) d.word_ids.push_back(1 + static_cast<int32_t>(rng() % (vocabulary - 1)));
    }
    d.label = static_cast<int64_t>(rng() % static_cast<uint64_t>(labels));
  }
  return docs;
}

std::vector<const EncodedDocument*> pointers(const std::vector<EncodedDocument>& docs) {
  std::vector<const EncodedDocument*> out;
  for (const auto& d : docs) out.push_back(&d);
  return out;
}

// Dense gradients of the fused path, the embedding's rows scattered back.
std::vector<torch::Tensor> dense_gradients(const FusedGradients& g, const ParameterTensors& parameters) {
  std::vector<torch::Tensor> out;
  for (int k = 0; k < kParameterCount; ++k) {
    if (k == kEmbedding) {
      auto e = torch::zeros_like(parameters[kEmbedding].detach());
      const int64_t dim = e.size(1);
      for (size_t i = 0; i < g.embedding_words.size(); ++i) {
        e[g.embedding_words[i]] +=
            torch::from_blob(const_cast<float*>(g.embedding_rows.data()) + static_cast<int64_t>(i) * dim, {dim});
      }
      out.push_back(e);
    } else {
      out.push_back(g.dense[static_cast<size_t>(k)].clone());
    }
  }
  return out;
}

// The fused step's gradients against autograd's, parameter by parameter.
void check_gradients_equal(const FusedGradients& gradients, const ParameterTensors& parameters,
                           const std::vector<torch::Tensor>& expected) {
  const auto actual = dense_gradients(gradients, parameters);
  for (int k = 0; k < kParameterCount; ++k) {
    INFO(parameter_name(k));
    const auto& want = expected[static_cast<size_t>(k)];
    const auto& got = actual[static_cast<size_t>(k)];
    REQUIRE(got.sizes() == want.sizes());
    const double magnitude = want.abs().max().item<double>();
    CHECK(magnitude > 0);
    CHECK((got - want).abs().max().item<double>() <= 1e-5 + 1e-4 * magnitude);
  }
}

}  // namespace

TEST_CASE("packed layout: steps hold the rows still running, mirror reverses within each length") {
  PackedLayout layout({4, 2, 2, 1});
  REQUIRE(layout.rows() == 4);
  REQUIRE(layout.steps() == 4);
  REQUIRE(layout.tokens() == 9);
  CHECK(layout.rows_at(0) == 4);
  CHECK(layout.rows_at(1) == 3);
  CHECK(layout.rows_at(2) == 1);
  CHECK(layout.rows_at(3) == 1);
  CHECK(layout.index(1, 2) == 6);
  // Row 0 (length 4): steps 0..3 at 0, 4, 7, 8; its mirror pairs 0<->8 and 4<->7.
  CHECK(layout.mirror()[0] == 8);
  CHECK(layout.mirror()[8] == 0);
  CHECK(layout.mirror()[4] == 7);
  // Row 3 (length 1) is its own mirror.
  CHECK(layout.mirror()[3] == 3);
  for (int64_t i = 0; i < layout.tokens(); ++i)
    CHECK(layout.mirror()[static_cast<size_t>(layout.mirror()[static_cast<size_t>(i)])] == i);
  CHECK_THROWS(PackedLayout({2, 3}));
  CHECK_THROWS(PackedLayout({2, 0}));
  CHECK(PackedLayout(std::vector<int32_t>{}).tokens() == 0);
}

TEST_CASE("the fused plan holds every word once and maps sentences back to their documents") {
  auto docs = random_documents(9, 40, 2, 3);
  FusedBatch batch = plan_fused_batch(pointers(docs));
  int64_t words = 0;
  for (const auto& d : docs) words += static_cast<int64_t>(d.word_ids.size());
  REQUIRE(batch.words.tokens() == words);
  REQUIRE(batch.documents == 9);
  for (int64_t d = 0; d < 9; ++d) {
    const auto& doc = docs[static_cast<size_t>(d)];
    REQUIRE(batch.sentence_count(d) == static_cast<int64_t>(doc.sentence_lengths.size()));
    size_t offset = 0;
    for (int64_t s = 0; s < batch.sentence_count(d); ++s) {
      const int64_t row = batch.sentence_row(d, s);
      REQUIRE(batch.words.length(row) == doc.sentence_lengths[static_cast<size_t>(s)]);
      for (int64_t t = 0; t < batch.words.length(row); ++t) {
        CHECK(batch.word_ids[static_cast<size_t>(batch.words.index(t, row))] ==
              doc.word_ids[offset + static_cast<size_t>(t)]);
      }
      offset += static_cast<size_t>(doc.sentence_lengths[static_cast<size_t>(s)]);
    }
    CHECK(batch.labels[static_cast<size_t>(d)] == doc.label);
  }
  EncodedDocument empty;
  CHECK_THROWS(plan_fused_batch({&empty}));
}

TEST_CASE("fused forward equals the reference network: logits and attention within 1e-5") {
  torch::manual_seed(7);
  HierarchicalAttentionNetwork net(small_config(), 50, 3);
  net->eval();
  auto docs = random_documents(23, 50, 3, 11);
  auto members = pointers(docs);
  torch::NoGradGuard no_grad;
  HanOutput reference = net->forward(make_batch(members), true);
  FusedBatch batch = plan_fused_batch(members);
  for (bool table : {false, true}) {
    INFO("vocabulary table " << table);
    FusedHan fused(net, table);
    FusedWorkspace workspace;
    FusedOutput output;
    fused.forward(batch, workspace, output, true);
    auto logits = torch::from_blob(output.logits.data(), {23, 3}).clone();
    CHECK(torch::allclose(logits, reference.logits, 1e-5, 1e-5));
    auto [sentence, word] = dense_attention(batch, output);
    REQUIRE(sentence.sizes() == reference.sentence_attention.sizes());
    REQUIRE(word.sizes() == reference.word_attention.sizes());
    CHECK(torch::allclose(sentence, reference.sentence_attention, 1e-5, 1e-5));
    CHECK(torch::allclose(word, reference.word_attention, 1e-5, 1e-5));
    // Attention sums to one per document and per sentence; padding holds zero.
    CHECK(torch::allclose(sentence.sum(1), torch::ones({23}), 1e-5, 1e-5));
    // A second call on the same workspace gives the same bits.
    FusedOutput again;
    fused.forward(batch, workspace, again, true);
    CHECK(again.logits == output.logits);
  }
}

TEST_CASE("fused forward: a document alone and inside a batch give the same result") {
  torch::manual_seed(8);
  HierarchicalAttentionNetwork net(small_config(), 60, 2);
  FusedHan fused(net, true);
  FusedWorkspace workspace;
  auto docs = random_documents(17, 60, 2, 5);
  FusedOutput together, alone;
  fused.forward(plan_fused_batch(pointers(docs)), workspace, together, true);
  fused.forward(plan_fused_batch({&docs[6]}), workspace, alone, true);
  CHECK(alone.logits[0] == Approx(together.logits[12]).margin(1e-5));
  CHECK(alone.logits[1] == Approx(together.logits[13]).margin(1e-5));
}

TEST_CASE("fused gradients equal the reference network's autograd gradients, with class weights too") {
  for (auto [labels, weighted] : {std::pair{2, false}, std::pair{4, false}, std::pair{4, true}}) {
    torch::manual_seed(static_cast<uint64_t>(20 + labels));
    HierarchicalAttentionNetwork net(small_config(), 45, labels);
    net->train();  // dropout 0: training and evaluation compute the same function
    auto docs = random_documents(14, 45, labels, static_cast<uint64_t>(labels));
    auto members = pointers(docs);
    Batch batch = make_batch(members);
    const double scale = 1.0 / 14;
    const std::vector<float> class_weights = {0.25f, 3.0f, 1.0f, 0.0f};  // a weight of 0 too
    auto reference_options = torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum);
    if (weighted) reference_options.weight(torch::tensor(class_weights));
    auto loss =
        torch::nn::functional::cross_entropy(net->forward(batch).logits, batch.labels, reference_options) * scale;
    auto parameters = net->parameter_tensors();
    std::vector<torch::Tensor> inputs(parameters.begin(), parameters.end());
    auto expected = torch::autograd::grad({loss}, inputs);

    FusedHan fused(net);
    FusedWorkspace workspace;
    FusedGradients gradients;
    gradients.reset(parameters);
    FusedTrainOptions options;
    options.loss_scale = scale;
    if (weighted) options.class_weights = class_weights.data();
    FusedStepResult step = fused.train_step(plan_fused_batch(members), workspace, gradients, options);
    CHECK(step.loss_sum * scale == Approx(loss.item<double>()).epsilon(1e-5));
    INFO(labels << " labels" << (weighted ? ", class weights" : ""));
    check_gradients_equal(gradients, parameters, expected);
  }
}

TEST_CASE("fused multi-label gradients equal autograd's of binary cross-entropy") {
  torch::manual_seed(31);
  const int labels = 5;
  HierarchicalAttentionNetwork net(small_config(), 45, labels);
  net->train();
  auto docs = random_documents(14, 45, labels, 9);
  std::mt19937_64 rng(4);
  for (auto& d : docs) {  // one to three distinct labels each
    for (int k = 0; k < labels; ++k) {
      if (rng() % 3 == 0 || k == d.label) d.targets.push_back(k);
    }
  }
  auto members = pointers(docs);
  torch::Tensor targets = torch::zeros({14, labels});
  for (size_t d = 0; d < docs.size(); ++d) {
    for (const int32_t k : docs[d].targets) targets[static_cast<int64_t>(d)][k] = 1.0f;
  }
  const double scale = 1.0 / 14;
  const torch::Tensor logits = net->forward(make_batch(members)).logits;
  auto loss =
      torch::nn::functional::binary_cross_entropy_with_logits(
          logits, targets, torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kSum)) *
      scale;
  auto parameters = net->parameter_tensors();
  std::vector<torch::Tensor> inputs(parameters.begin(), parameters.end());
  auto expected = torch::autograd::grad({loss}, inputs);
  const int64_t exact = logits.gt(0).eq(targets.gt(0.5)).all(1).sum().item<int64_t>();

  FusedHan fused(net);
  FusedWorkspace workspace;
  FusedGradients gradients;
  gradients.reset(parameters);
  FusedTrainOptions options;
  options.loss_scale = scale;
  options.multi_label = true;
  const FusedStepResult step = fused.train_step(plan_fused_batch(members), workspace, gradients, options);
  CHECK(step.loss_sum * scale == Approx(loss.item<double>()).epsilon(1e-5));
  CHECK(step.correct == exact);
  check_gradients_equal(gradients, parameters, expected);
  // Without targets the multi-label step refuses, rather than train on nothing.
  for (auto& d : docs) d.targets.clear();
  CHECK_THROWS_AS(fused.train_step(plan_fused_batch(pointers(docs)), workspace, gradients, options),
                  std::invalid_argument);
}

TEST_CASE("mean and max pooling: fused equals the reference, weights say what each position gave") {
  for (const char* pooling : {"mean", "max"}) {
    INFO("pooling " << pooling);
    torch::manual_seed(41);
    ModelConfig config = small_config();
    config.pooling = pooling;
    HierarchicalAttentionNetwork net(config, 40, 3);
    net->train();  // dropout 0
    auto docs = random_documents(19, 40, 3, 13);
    auto members = pointers(docs);
    Batch batch = make_batch(members);
    HanOutput reference = net->forward(batch, true);
    const double scale = 1.0 / 19;
    auto loss =
        torch::nn::functional::cross_entropy(reference.logits, batch.labels,
                                             torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) *
        scale;
    auto parameters = net->parameter_tensors();
    std::vector<torch::Tensor> inputs(parameters.begin(), parameters.end());
    auto expected = torch::autograd::grad({loss}, inputs, {}, false, false, /*allow_unused=*/true);

    // Each row's weights sum to one; the mean's are 1/length on real positions.
    auto sentence_weights = reference.sentence_attention.detach();
    CHECK(torch::allclose(sentence_weights.sum(1), torch::ones({19}), 1e-5, 1e-5));
    if (std::string(pooling) == "mean") {
      auto counts = batch.sentence_counts.to(torch::kFloat32).unsqueeze(1);
      auto real = length_mask(batch.sentence_counts, sentence_weights.size(1)).to(torch::kFloat32);
      CHECK(torch::allclose(sentence_weights, real / counts, 1e-6, 1e-6));
    } else {
      // A max-pooled weight is a whole number of features over the vector's size.
      auto features = sentence_weights * (2 * config.sentence_hidden);
      CHECK(torch::allclose(features, features.round(), 1e-4, 1e-4));
    }

    FusedHan fused(net);
    FusedWorkspace workspace;
    FusedBatch fused_batch = plan_fused_batch(members);
    FusedOutput output;
    fused.forward(fused_batch, workspace, output, true);
    auto logits = torch::from_blob(output.logits.data(), {19, 3}).clone();
    CHECK(torch::allclose(logits, reference.logits.detach(), 1e-5, 1e-5));
    auto [sentence, word] = dense_attention(fused_batch, output);
    CHECK(torch::allclose(sentence, sentence_weights, 1e-5, 1e-5));
    CHECK(torch::allclose(word, reference.word_attention.detach(), 1e-5, 1e-5));

    FusedGradients gradients;
    gradients.reset(parameters);
    FusedTrainOptions options;
    options.loss_scale = scale;
    fused.train_step(fused_batch, workspace, gradients, options);
    auto actual = dense_gradients(gradients, parameters);
    for (int k = 0; k < kParameterCount; ++k) {
      INFO(parameter_name(k));
      const auto& want = expected[static_cast<size_t>(k)];
      const auto& got = actual[static_cast<size_t>(k)];
      const bool attention_weight = k == kWordAttentionWeight || k == kWordAttentionBias ||
                                    k == kWordAttentionContext || k == kSentenceAttentionWeight ||
                                    k == kSentenceAttentionBias || k == kSentenceAttentionContext;
      if (attention_weight) {
        // Unused: autograd has no gradient for them, the kernels leave zeros.
        CHECK_FALSE(want.defined());
        CHECK(got.abs().max().item<double>() == 0);
        continue;
      }
      REQUIRE(want.defined());
      const double magnitude = want.abs().max().item<double>();
      CHECK(magnitude > 0);
      CHECK((got - want).abs().max().item<double>() <= 1e-5 + 1e-4 * magnitude);
    }
  }
}

TEST_CASE("fused gradients of a batch equal the sum over its parts, dropout masks included") {
  torch::manual_seed(31);
  ModelConfig config = small_config();
  config.dropout = 0.4;
  HierarchicalAttentionNetwork net(config, 40, 2);
  FusedHan fused(net);
  auto docs = random_documents(12, 40, 2, 9);
  auto parameters = net->parameter_tensors();
  FusedTrainOptions options;
  options.dropout = 0.4;
  options.dropout_seed = 1234;
  FusedWorkspace workspace;
  FusedGradients whole;
  whole.reset(parameters);
  fused.train_step(plan_fused_batch(pointers(docs)), workspace, whole, options);
  // The same documents as two parts, each told where it starts.
  std::vector<const EncodedDocument*> first(5), second(7);
  for (int i = 0; i < 5; ++i) first[static_cast<size_t>(i)] = &docs[static_cast<size_t>(i)];
  for (int i = 0; i < 7; ++i) second[static_cast<size_t>(i)] = &docs[static_cast<size_t>(5 + i)];
  // Two calls add into one set of gradients.
  FusedGradients parts;
  parts.reset(parameters);
  fused.train_step(plan_fused_batch(first), workspace, parts, options);
  options.first_document = 5;
  fused.train_step(plan_fused_batch(second), workspace, parts, options);
  auto expected = dense_gradients(whole, parameters);
  auto summed = dense_gradients(parts, parameters);
  for (int k = 0; k < kParameterCount; ++k) {
    INFO(parameter_name(k));
    CHECK(torch::allclose(summed[static_cast<size_t>(k)], expected[static_cast<size_t>(k)], 1e-4, 1e-6));
  }
  // Dropout changes the gradient: the masks are really applied.
  options.first_document = 0;
  options.dropout = 0;
  FusedGradients without;
  without.reset(parameters);
  fused.train_step(plan_fused_batch(pointers(docs)), workspace, without, options);
  CHECK_FALSE(torch::allclose(without.dense[kClassifierWeight], whole.dense[kClassifierWeight], 1e-4, 1e-6));
}

TEST_CASE("split_by_tokens bounds each part's words and keeps every document once, in order") {
  auto docs = random_documents(40, 30, 2, 13);
  auto members = pointers(docs);
  auto parts = split_by_tokens(members, 60);
  std::vector<const EncodedDocument*> joined;
  for (const auto& part : parts) {
    REQUIRE_FALSE(part.empty());
    int64_t tokens = 0;
    for (const auto* d : part) tokens += static_cast<int64_t>(d->word_ids.size());
    CHECK((tokens <= 60 || part.size() == 1));
    joined.insert(joined.end(), part.begin(), part.end());
  }
  CHECK(joined == members);
  CHECK(parts.size() > 1);
  // A document longer than the bound goes alone.
  CHECK(split_by_tokens(members, 1).size() == members.size());
}

TEST_CASE("fused path rejects word ids outside the vocabulary") {
  HierarchicalAttentionNetwork net(small_config(), 20, 2);
  FusedHan fused(net);
  FusedWorkspace workspace;
  FusedOutput output;
  EncodedDocument d;
  d.word_ids = {3, 20};
  d.sentence_lengths = {2};
  CHECK_THROWS_AS(fused.forward(plan_fused_batch({&d}), workspace, output), std::out_of_range);
}
