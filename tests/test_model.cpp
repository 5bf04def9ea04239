// Model: shapes first, then values, on tiny inputs that include padding.
#include "torch_catch.h"

#include "han/model/batch.h"
#include "han/model/network.h"

using namespace han;

namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.embedding_dim = 8;
  c.word_hidden = 5;
  c.sentence_hidden = 4;
  c.word_attention = 6;
  c.sentence_attention = 3;
  return c;
}

EncodedDocument doc(std::vector<std::vector<int32_t>> sentences, int64_t label = 0) {
  EncodedDocument d;
  d.label = label;
  for (auto& s : sentences) {
    d.sentence_lengths.push_back(static_cast<int32_t>(s.size()));
    d.word_ids.insert(d.word_ids.end(), s.begin(), s.end());
  }
  return d;
}

}  // namespace

TEST_CASE("masked softmax sums to one over real positions and gives padding exactly zero") {
  auto scores = torch::randn({4, 7});
  auto lengths = torch::tensor({7, 3, 1, 5}, torch::kInt64);
  auto weights = masked_softmax(scores, length_mask(lengths, 7));
  REQUIRE(weights.sizes() == torch::IntArrayRef({4, 7}));
  auto sums = weights.sum(1);
  for (int r = 0; r < 4; ++r) CHECK(sums[r].item<float>() == Approx(1.0f).margin(1e-6));
  CHECK(weights[1].slice(0, 3).abs().sum().item<float>() == 0.0f);
  CHECK(weights[2][0].item<float>() == Approx(1.0f));
}

TEST_CASE("masked softmax is stable per row whatever the other rows hold") {
  // One row far below the other: a batch-wide maximum would underflow it to 0/0.
  auto scores = torch::tensor({{1000.0f, 999.0f, 0.0f}, {-1000.0f, -1001.0f, 5000.0f}});
  auto lengths = torch::tensor({3, 2}, torch::kInt64);
  auto weights = masked_softmax(scores, length_mask(lengths, 3));
  CHECK_FALSE(torch::isnan(weights).any().item<bool>());
  CHECK(weights[1][0].item<float>() == Approx(1.0f / (1.0f + std::exp(-1.0f))).margin(1e-5));
  CHECK(weights[1][2].item<float>() == 0.0f);
  CHECK(weights[0][2].item<float>() == 0.0f);  // exp(-1000) underflows, which is right
}

TEST_CASE("reversal index reverses within each length and leaves padding in place") {
  auto index = reversal_index(torch::tensor({3, 1, 0}, torch::kInt64), 4);
  CHECK(index[0].equal(torch::tensor({2, 1, 0, 3}, torch::kInt64)));
  CHECK(index[1].equal(torch::tensor({0, 1, 2, 3}, torch::kInt64)));
  CHECK(index[2].equal(torch::tensor({0, 1, 2, 3}, torch::kInt64)));
}

TEST_CASE("make_batch pads with PAD and plans chunks over every real sentence once") {
  auto a = doc({{5, 6, 7}, {8}});
  auto b = doc({{9, 10, 11, 12, 13}});
  Batch batch = make_batch({&a, &b});
  REQUIRE(batch.word_ids.sizes() == torch::IntArrayRef({2, 2, 5}));
  CHECK(batch.word_counts[0].equal(torch::tensor({3, 1}, torch::kInt64)));
  CHECK(batch.word_counts[1].equal(torch::tensor({5, 0}, torch::kInt64)));
  CHECK(batch.sentence_counts.equal(torch::tensor({2, 1}, torch::kInt64)));
  CHECK(batch.word_ids[1][1].abs().sum().item<int64_t>() == 0);
  CHECK(batch.sentence_order.equal(torch::tensor({2, 0, 1}, torch::kInt64)));  // longest first
  CHECK(batch.chunk_starts.front() == 0);
  CHECK(batch.chunk_starts.back() == 3);
  CHECK(batch.chunk_lengths.front() == 5);
}

TEST_CASE("bucketing puts documents of similar sentence counts together and covers each once") {
  std::vector<EncodedDocument> docs;
  for (int i = 0; i < 40; ++i) {
    std::vector<std::vector<int32_t>> sentences(static_cast<size_t>(1 + i % 8), std::vector<int32_t>{2, 3});
    docs.push_back(doc(sentences));
  }
  std::mt19937_64 rng(3);
  auto batches = bucket_batches(docs, 5, &rng);
  std::vector<int> seen(40, 0);
  for (const auto& b : batches) {
    size_t lo = 99, hi = 0;
    for (int64_t i : b) {
      ++seen[static_cast<size_t>(i)];
      lo = std::min(lo, docs[static_cast<size_t>(i)].sentence_lengths.size());
      hi = std::max(hi, docs[static_cast<size_t>(i)].sentence_lengths.size());
    }
    CHECK(hi - lo <= 1);
  }
  for (int s : seen) CHECK(s == 1);
}

TEST_CASE("the network gives the right shapes and attention that sums to one") {
  torch::manual_seed(1);
  HierarchicalAttentionNetwork net(tiny_config(), 30, 3);
  net->eval();
  auto a = doc({{5, 6, 7}, {8}, {9, 10}});
  auto b = doc({{11, 12, 13, 14, 15, 16}});
  Batch batch = make_batch({&a, &b});
  torch::NoGradGuard no_grad;
  HanOutput out = net->forward(batch, true);
  REQUIRE(out.logits.sizes() == torch::IntArrayRef({2, 3}));
  REQUIRE(out.sentence_attention.sizes() == torch::IntArrayRef({2, 3}));
  REQUIRE(out.word_attention.sizes() == torch::IntArrayRef({2, 3, 6}));
  CHECK(out.sentence_attention.sum(1)[0].item<float>() == Approx(1.0f).margin(1e-6));
  CHECK(out.sentence_attention.sum(1)[1].item<float>() == Approx(1.0f).margin(1e-6));
  CHECK(out.sentence_attention[1].slice(0, 1).abs().sum().item<float>() == 0.0f);
  auto word_sums = out.word_attention.sum(2);  // [docs, sents]
  CHECK(word_sums[0][0].item<float>() == Approx(1.0f).margin(1e-6));
  CHECK(word_sums[0][1].item<float>() == Approx(1.0f).margin(1e-6));
  CHECK(word_sums[0][2].item<float>() == Approx(1.0f).margin(1e-6));
  CHECK(word_sums[1][0].item<float>() == Approx(1.0f).margin(1e-6));
  CHECK(word_sums[1][1].item<float>() == 0.0f);
  CHECK(out.word_attention[0][1][0].item<float>() == Approx(1.0f));  // a one-word sentence
  CHECK(out.word_attention[0][0].slice(0, 3).abs().sum().item<float>() == 0.0f);
}

TEST_CASE("padding changes nothing: a document alone and in a batch with longer ones") {
  torch::manual_seed(2);
  HierarchicalAttentionNetwork net(tiny_config(), 50, 2);
  net->eval();
  torch::NoGradGuard no_grad;
  auto target = doc({{3, 4, 5}, {6, 7}});
  std::vector<EncodedDocument> others;
  for (int i = 0; i < 20; ++i) {
    std::vector<std::vector<int32_t>> sentences;
    for (int s = 0; s < 2 + i % 6; ++s) {
      std::vector<int32_t> words;
      for (int w = 0; w < 1 + (i * 7 + s * 3) % 25; ++w) words.push_back(2 + (i + s + w) % 45);
      sentences.push_back(words);
    }
    others.push_back(doc(sentences));
  }
  HanOutput alone = net->forward(make_batch({&target}), true);
  std::vector<const EncodedDocument*> members;
  for (auto& o : others) members.push_back(&o);
  members.insert(members.begin() + 7, &target);
  HanOutput together = net->forward(make_batch(members), true);
  CHECK(torch::allclose(alone.logits[0], together.logits[7], 1e-5, 1e-5));
  CHECK(torch::allclose(alone.sentence_attention[0], together.sentence_attention[7].slice(0, 0, 2), 1e-5, 1e-5));
  CHECK(torch::allclose(alone.word_attention[0], together.word_attention[7].slice(0, 0, 2).slice(1, 0, 3), 1e-5, 1e-5));
  // Changing the ids under the padding must not matter either.
  Batch padded = make_batch(members);
  auto mask = padded.word_ids.eq(0);
  padded.word_ids.masked_fill_(mask, 17);
  HanOutput garbage = net->forward(padded, false);
  CHECK(torch::allclose(together.logits, garbage.logits, 1e-5, 1e-5));
}

TEST_CASE("the bidirectional GRU's outputs at real positions ignore what follows the length") {
  torch::manual_seed(4);
  BiGru gru(3, 4);
  auto x = torch::randn({2, 5, 3});
  auto lengths = torch::tensor({5, 2}, torch::kInt64);
  auto run = [&](const torch::Tensor& input) {
    auto reverse = reversal_index(lengths, 5);
    auto reversed = input.gather(1, reverse.unsqueeze(2).expand_as(input));
    return gru->forward(input, reversed, reverse);
  };
  auto y = run(x);
  REQUIRE(y.sizes() == torch::IntArrayRef({2, 5, 8}));
  auto x2 = x.clone();
  x2[1].slice(0, 2).normal_();
  auto y2 = run(x2);
  CHECK(torch::allclose(y[1].slice(0, 0, 2), y2[1].slice(0, 0, 2)));
  // The backward half at position 0 has read the whole real sequence: it
  // differs from a run over the first word alone.
  auto reverse_first = reversal_index(torch::tensor({1}, torch::kInt64), 1);
  auto first = x[1].slice(0, 0, 1).unsqueeze(0);
  auto only_first = gru->forward(first, first, reverse_first);
  CHECK_FALSE(torch::allclose(only_first[0][0].slice(0, 4), y[1][0].slice(0, 4)));
}

TEST_CASE("gradients reach every parameter") {
  torch::manual_seed(5);
  HierarchicalAttentionNetwork net(tiny_config(), 30, 2);
  auto a = doc({{5, 6, 7}, {8}}, 1);
  auto b = doc({{9, 10}}, 0);
  Batch batch = make_batch({&a, &b});
  auto loss = torch::nn::functional::cross_entropy(net->forward(batch).logits, batch.labels);
  loss.backward();
  for (const auto& p : net->named_parameters()) {
    INFO(p.key());
    REQUIRE(p.value().grad().defined());
    CHECK(p.value().grad().abs().sum().item<float>() > 0.0f);
  }
}
