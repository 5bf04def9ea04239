#include "han/inference.h"

#include <algorithm>

#include <fmt/format.h>
#include <torch/torch.h>

#include "han/batch.h"
#include "han/error.h"

namespace han {

namespace {

// Documents are handled in blocks, so memory stays bounded on big inputs.
constexpr size_t kBlock = 4096;

struct BlockResult {
  torch::Tensor probabilities;       // [docs, labels]
  torch::Tensor sentence_attention;  // [docs, max_sents] or undefined
  torch::Tensor word_attention;      // [docs, max_sents, max_words] or undefined
};

// Runs the network over encoded documents in sentence-count buckets and
// returns the outputs of each document, in input order.
std::vector<BlockResult> run(HierarchicalAttentionNetwork network, const std::vector<EncodedDocument>& encoded,
                             int batch_size, bool with_attention) {
  std::vector<BlockResult> results(encoded.size());
  for (const auto& indices : bucket_batches(encoded, batch_size, nullptr)) {
    std::vector<const EncodedDocument*> members;
    for (int64_t i : indices) members.push_back(&encoded[static_cast<size_t>(i)]);
    Batch batch = make_batch(members);
    HanOutput output = network->forward(batch, with_attention);
    auto probabilities = torch::softmax(output.logits, 1);
    for (size_t k = 0; k < indices.size(); ++k) {
      BlockResult& r = results[static_cast<size_t>(indices[k])];
      const auto row = static_cast<int64_t>(k);
      r.probabilities = probabilities[row];
      if (with_attention) {
        r.sentence_attention = output.sentence_attention[row];
        r.word_attention = output.word_attention[row];
      }
    }
  }
  return results;
}

Prediction to_prediction(const torch::Tensor& probabilities) {
  Prediction p;
  auto values = probabilities.to(torch::kFloat32).contiguous();
  p.probabilities.assign(values.data_ptr<float>(), values.data_ptr<float>() + values.numel());
  p.label = std::max_element(p.probabilities.begin(), p.probabilities.end()) - p.probabilities.begin();
  return p;
}

}  // namespace

Predictor::Predictor(const Model& model, int batch_size, int threads)
    : model_(model), batch_size_(std::max(1, batch_size)), threads_(std::max(1, threads)) {}

std::vector<Prediction> Predictor::predict(const std::vector<Document>& documents,
                                           const ProgressCallback& progress) const {
  c10::InferenceMode inference;
  HierarchicalAttentionNetwork network = model_.network;  // shares the weights
  network->eval();
  std::vector<Prediction> predictions;
  predictions.reserve(documents.size());
  for (size_t start = 0; start < documents.size(); start += kBlock) {
    const size_t end = std::min(documents.size(), start + kBlock);
    const std::vector<Document> block(documents.begin() + static_cast<std::ptrdiff_t>(start),
                                      documents.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<EncodedDocument> encoded(block.size());
    tokenize_documents(block, model_.config.text, threads_, [&](size_t i, TokenizedDocument&& tokens) {
      encoded[i] = encode_document(tokens, model_.vocabulary);
    });
    for (const BlockResult& r : run(model_.network, encoded, batch_size_, false)) predictions.push_back(to_prediction(r.probabilities));
    if (progress) progress(static_cast<int64_t>(end), static_cast<int64_t>(documents.size()));
  }
  return predictions;
}

std::vector<Explanation> Predictor::explain(const std::vector<Document>& documents,
                                            const ProgressCallback& progress) const {
  c10::InferenceMode inference;
  HierarchicalAttentionNetwork network = model_.network;  // shares the weights
  network->eval();
  std::vector<Explanation> explanations;
  explanations.reserve(documents.size());
  for (size_t start = 0; start < documents.size(); start += kBlock) {
    const size_t end = std::min(documents.size(), start + kBlock);
    const std::vector<Document> block(documents.begin() + static_cast<std::ptrdiff_t>(start),
                                      documents.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<TokenizedDocument> tokenized(block.size());
    std::vector<EncodedDocument> encoded(block.size());
    tokenize_documents(block, model_.config.text, threads_, [&](size_t i, TokenizedDocument&& tokens) {
      encoded[i] = encode_document(tokens, model_.vocabulary);
      tokenized[i] = std::move(tokens);
    });
    auto results = run(model_.network, encoded, batch_size_, true);
    for (size_t i = 0; i < block.size(); ++i) {
      Explanation e;
      e.prediction = to_prediction(results[i].probabilities);
      e.tokens = std::move(tokenized[i]);
      auto sentence_weights = results[i].sentence_attention.contiguous();
      auto word_weights = results[i].word_attention.contiguous();
      const auto sentences = static_cast<int64_t>(e.tokens.sentences.size());
      for (int64_t s = 0; s < sentences; ++s) {
        e.sentence_weights.push_back(sentence_weights[s].item<float>());
        auto row = word_weights[s];
        const auto words = static_cast<int64_t>(e.tokens.sentences[static_cast<size_t>(s)].words.size());
        e.word_weights.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + words);
      }
      explanations.push_back(std::move(e));
    }
    if (progress) progress(static_cast<int64_t>(end), static_cast<int64_t>(documents.size()));
  }
  return explanations;
}

EvaluationReport evaluate(const Model& model, const Corpus& corpus, int batch_size, int threads,
                          const ProgressCallback& progress) {
  std::vector<int64_t> gold;
  gold.reserve(corpus.documents.size());
  for (const Document& d : corpus.documents) {
    const int64_t id = model.labels.id(d.label);
    if (id < 0) {
      throw InputError(fmt::format("{}: label '{}' is not one the model knows ({})", d.origin, d.label,
                                   fmt::join(model.labels.names(), ", ")));
    }
    gold.push_back(id);
  }
  Predictor predictor(model, batch_size, threads);
  auto predictions = predictor.predict(corpus.documents, progress);
  std::vector<int64_t> predicted;
  double loss = 0;
  for (size_t i = 0; i < predictions.size(); ++i) {
    predicted.push_back(predictions[i].label);
    loss -= std::log(std::max(1e-12f, predictions[i].probabilities[static_cast<size_t>(gold[i])]));
  }
  EvaluationReport report = compute_metrics(gold, predicted, model.labels.names());
  report.loss = predictions.empty() ? 0 : loss / static_cast<double>(predictions.size());
  return report;
}

}  // namespace han
