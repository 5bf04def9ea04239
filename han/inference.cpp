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

// Tokenizes, encodes and runs documents block by block, so memory stays
// bounded on big inputs, and hands each document's tokens (kept only with
// attention) and outputs to `consume`, in input order.
void run_blocks(const Model& model, const std::vector<Document>& documents, int batch_size, int threads,
                bool with_attention, const ProgressCallback& progress,
                const std::function<void(TokenizedDocument&&, const BlockResult&)>& consume) {
  c10::InferenceMode inference;
  HierarchicalAttentionNetwork network = model.network;  // shares the weights
  network->eval();
  for (size_t start = 0; start < documents.size(); start += kBlock) {
    const size_t end = std::min(documents.size(), start + kBlock);
    const std::vector<Document> block(documents.begin() + static_cast<std::ptrdiff_t>(start),
                                      documents.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<TokenizedDocument> tokenized(with_attention ? block.size() : 0);
    std::vector<EncodedDocument> encoded(block.size());
    tokenize_documents(block, model.config.text, threads, [&](size_t i, TokenizedDocument&& tokens) {
      encoded[i] = encode_document(tokens, model.vocabulary);
      if (with_attention) tokenized[i] = std::move(tokens);
    });
    auto results = run(network, encoded, batch_size, with_attention);
    for (size_t i = 0; i < block.size(); ++i) {
      consume(with_attention ? std::move(tokenized[i]) : TokenizedDocument{}, results[i]);
    }
    if (progress) progress(static_cast<int64_t>(end), static_cast<int64_t>(documents.size()));
  }
}

}  // namespace

Predictor::Predictor(const Model& model, int batch_size, int threads)
    : model_(model), batch_size_(std::max(1, batch_size)), threads_(std::max(1, threads)) {}

std::vector<Prediction> Predictor::predict(const std::vector<Document>& documents,
                                           const ProgressCallback& progress) const {
  std::vector<Prediction> predictions;
  predictions.reserve(documents.size());
  run_blocks(model_, documents, batch_size_, threads_, false, progress,
             [&](TokenizedDocument&&, const BlockResult& r) { predictions.push_back(to_prediction(r.probabilities)); });
  return predictions;
}

std::vector<Explanation> Predictor::explain(const std::vector<Document>& documents,
                                            const ProgressCallback& progress) const {
  std::vector<Explanation> explanations;
  explanations.reserve(documents.size());
  run_blocks(model_, documents, batch_size_, threads_, true, progress,
             [&](TokenizedDocument&& tokens, const BlockResult& r) {
               Explanation e;
               e.prediction = to_prediction(r.probabilities);
               e.tokens = std::move(tokens);
               auto sentence_weights = r.sentence_attention.contiguous();  // [max_sents]
               auto word_weights = r.word_attention.contiguous();          // [max_sents, max_words]
               for (size_t s = 0; s < e.tokens.sentences.size(); ++s) {
                 const auto row = static_cast<int64_t>(s);
                 e.sentence_weights.push_back(sentence_weights[row].item<float>());
                 const float* words = word_weights[row].data_ptr<float>();
                 e.word_weights.emplace_back(words, words + e.tokens.sentences[s].words.size());
               }
               explanations.push_back(std::move(e));
             });
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
