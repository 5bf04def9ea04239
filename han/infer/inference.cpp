#include "han/infer/inference.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

#include "han/base/error.h"
#include "han/base/parallel.h"

namespace han {

void forward_batches(
    const FusedHan& network, const std::vector<EncodedDocument>& documents, int batch_size, int threads,
    bool with_attention,
    const std::function<void(const std::vector<int64_t>&, const FusedBatch&, const FusedOutput&)>& consume) {
  // Buckets of batch_size documents, cut further to at most kMaxTokensPerCall
  // words: memory stays bounded however long the documents are.
  std::vector<std::vector<int64_t>> batches;
  for (const auto& bucket : bucket_batches(documents, std::max(1, batch_size), nullptr)) {
    std::vector<const EncodedDocument*> members;
    members.reserve(bucket.size());
    for (int64_t i : bucket) members.push_back(&documents[static_cast<size_t>(i)]);
    for (const auto& part : split_by_tokens(members, kMaxTokensPerCall)) {
      auto& indices = batches.emplace_back();
      for (const EncodedDocument* d : part) indices.push_back(d - documents.data());
    }
  }
  const auto group = static_cast<size_t>(std::max(1, std::min<int>(threads, static_cast<int>(batches.size()))));
  std::vector<FusedWorkspace> workspaces(group);
  std::vector<FusedBatch> planned(group);
  std::vector<FusedOutput> outputs(group);
  for (size_t start = 0; start < batches.size(); start += group) {
    const size_t count = std::min(group, batches.size() - start);
    run_on_threads(static_cast<int>(count), [&](int w) {
      const auto& indices = batches[start + static_cast<size_t>(w)];
      std::vector<const EncodedDocument*> members;
      members.reserve(indices.size());
      for (int64_t i : indices) members.push_back(&documents[static_cast<size_t>(i)]);
      planned[static_cast<size_t>(w)] = plan_fused_batch(members);
      network.forward(planned[static_cast<size_t>(w)], workspaces[static_cast<size_t>(w)],
                      outputs[static_cast<size_t>(w)], with_attention);
    });
    for (size_t w = 0; w < count; ++w) consume(batches[start + w], planned[w], outputs[w]);
  }
}

namespace {

// Documents are handled in blocks, so memory stays bounded on big inputs.
constexpr size_t kBlock = 4096;

// Softmax probabilities, or with `thresholds` (a multi-label model) each
// label's sigmoid and the labels at or above their threshold.
Prediction to_prediction(const float* logits, int64_t labels, const std::vector<float>& thresholds) {
  Prediction p;
  if (!thresholds.empty()) {
    p.multi_label = true;
    for (int64_t k = 0; k < labels; ++k) {
      p.probabilities.push_back(static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(logits[k])))));
    }
    p.label = std::max_element(p.probabilities.begin(), p.probabilities.end()) - p.probabilities.begin();
    for (int64_t k = 0; k < labels; ++k) {
      if (p.probabilities[static_cast<size_t>(k)] >= thresholds[static_cast<size_t>(k)]) p.chosen.push_back(k);
    }
    std::stable_sort(p.chosen.begin(), p.chosen.end(), [&](int64_t a, int64_t b) {
      return p.probabilities[static_cast<size_t>(a)] > p.probabilities[static_cast<size_t>(b)];
    });
    return p;
  }
  const auto [best, sum] = summarize_logits(logits, labels);
  for (int64_t k = 0; k < labels; ++k) {
    p.probabilities.push_back(static_cast<float>(std::exp(static_cast<double>(logits[k] - logits[best])) / sum));
  }
  p.label = std::max_element(p.probabilities.begin(), p.probabilities.end()) - p.probabilities.begin();
  return p;
}

}  // namespace

struct Predictor::Result {
  Prediction prediction;
  std::vector<float> sentence_weights;
  std::vector<std::vector<float>> word_weights;
  std::vector<std::vector<int32_t>> word_ids;
};

Predictor::Predictor(const Model& model, int batch_size, int threads, const torch::Device& device, bool modules_on_cpu)
    : model_(model),
      batch_size_(std::max(1, batch_size)),
      threads_(std::max(1, threads)),
      plain_(std::make_unique<FusedHan>(model.network)),
      device_(device) {
  if (device.is_cpu() && !modules_on_cpu) return;
  // A copy on the device: the model itself stays on the CPU for its callers.
  modules_ = HierarchicalAttentionNetwork(model.network->config(), model.network->vocabulary_size(),
                                          model.network->label_count());
  torch::NoGradGuard no_grad;
  auto to = modules_->parameters();
  const auto from = model.network->parameters();
  for (size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i]);
  modules_->to(device);
  modules_->eval();
}

void Predictor::precompute() const {
  std::lock_guard<std::mutex> lock(table_mutex_);
  if (!with_table_) with_table_ = std::make_unique<FusedHan>(model_.network, /*vocabulary_table=*/true);
}

// The table costs one input projection per vocabulary word: worth it once
// this predictor has seen as many words.
const FusedHan& Predictor::engine_for(int64_t words) const {
  std::lock_guard<std::mutex> lock(table_mutex_);
  words_seen_ += words;
  if (!with_table_ && words_seen_ >= model_.vocabulary.size()) {
    with_table_ = std::make_unique<FusedHan>(model_.network, /*vocabulary_table=*/true);
  }
  return with_table_ ? *with_table_ : *plain_;
}

std::vector<Predictor::Result> Predictor::run_modules(const std::vector<EncodedDocument>& encoded,
                                                      bool with_attention) const {
  c10::InferenceMode inference;
  const int64_t labels = model_.network->label_count();
  std::vector<Result> results(encoded.size());
  for (const auto& indices : bucket_batches(encoded, batch_size_, nullptr)) {
    std::vector<const EncodedDocument*> members;
    members.reserve(indices.size());
    for (int64_t i : indices) members.push_back(&encoded[static_cast<size_t>(i)]);
    const HanOutput output = modules_->forward(make_batch(members).to(device_), with_attention);
    const torch::Tensor logits = output.logits.to(torch::kCPU, torch::kFloat).contiguous();  // [docs, labels]
    torch::Tensor sentences, words;
    if (with_attention) {
      sentences = output.sentence_attention.to(torch::kCPU, torch::kFloat).contiguous();  // [docs, max_sents]
      words = output.word_attention.to(torch::kCPU, torch::kFloat).contiguous();  // [docs, max_sents, max_words]
    }
    for (size_t k = 0; k < members.size(); ++k) {
      Result& r = results[static_cast<size_t>(indices[k])];
      const auto d = static_cast<int64_t>(k);
      r.prediction = to_prediction(logits.data_ptr<float>() + d * labels, labels, model_.thresholds);
      if (!with_attention) continue;
      const EncodedDocument& document = *members[k];
      // Checked once per document, not once per sentence.
      const auto sentence_weights = sentences.accessor<float, 2>()[d];  // [max_sents]
      const auto word_weights = words.accessor<float, 3>()[d];          // [max_sents, max_words]
      size_t first_word = 0;
      for (size_t sentence = 0; sentence < document.sentence_lengths.size(); ++sentence) {
        const auto s = static_cast<int64_t>(sentence);
        r.sentence_weights.push_back(sentence_weights[s]);
        const auto row = word_weights[s];
        std::vector<float> weights;
        std::vector<int32_t> ids;
        for (int32_t t = 0; t < document.sentence_lengths[sentence]; ++t) {
          weights.push_back(row[t]);
          ids.push_back(document.word_ids[first_word + static_cast<size_t>(t)]);
        }
        first_word += static_cast<size_t>(document.sentence_lengths[sentence]);
        r.word_weights.push_back(std::move(weights));
        r.word_ids.push_back(std::move(ids));
      }
    }
  }
  return results;
}

std::vector<Predictor::Result> Predictor::run(const std::vector<EncodedDocument>& encoded, bool with_attention) const {
  if (modules_) return run_modules(encoded, with_attention);
  c10::InferenceMode inference;
  int64_t words = 0;
  for (const auto& d : encoded) words += static_cast<int64_t>(d.word_ids.size());
  const FusedHan& engine = engine_for(words);
  const int64_t labels = engine.label_count();
  std::vector<Result> results(encoded.size());
  forward_batches(
      engine, encoded, batch_size_, threads_, with_attention,
      [&](const std::vector<int64_t>& indices, const FusedBatch& batch, const FusedOutput& output) {
        for (size_t k = 0; k < indices.size(); ++k) {
          Result& r = results[static_cast<size_t>(indices[k])];
          const auto d = static_cast<int64_t>(k);
          r.prediction = to_prediction(output.logits.data() + d * labels, labels, model_.thresholds);
          if (!with_attention) continue;
          const int64_t row = batch.document_row[k];
          for (int64_t s = 0; s < batch.sentence_count(d); ++s) {
            r.sentence_weights.push_back(output.sentence_attention[static_cast<size_t>(batch.sentences.index(s, row))]);
            const int64_t words_row = batch.sentence_row(d, s);
            std::vector<float> weights;
            std::vector<int32_t> ids;
            for (int64_t t = 0; t < batch.words.length(words_row); ++t) {
              const auto at = static_cast<size_t>(batch.words.index(t, words_row));
              weights.push_back(output.word_attention[at]);
              ids.push_back(batch.word_ids[at]);
            }
            r.word_weights.push_back(std::move(weights));
            r.word_ids.push_back(std::move(ids));
          }
        }
      });
  return results;
}

// Tokenizes, encodes and runs documents block by block, so memory stays
// bounded on big inputs, and hands each document's tokens (kept only with
// attention) and outputs to `consume`, in input order.
void Predictor::run_blocks(const std::vector<Document>& documents, bool with_attention,
                           const ProgressCallback& progress,
                           const std::function<void(TokenizedDocument&&, Result&&)>& consume) const {
  for (size_t start = 0; start < documents.size(); start += kBlock) {
    const size_t end = std::min(documents.size(), start + kBlock);
    const std::vector<Document> block(documents.begin() + static_cast<std::ptrdiff_t>(start),
                                      documents.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<TokenizedDocument> tokenized(with_attention ? block.size() : 0);
    std::vector<EncodedDocument> encoded(block.size());
    std::vector<Prediction> read(block.size());  // whether each was empty and what was cut
    // Encoding runs on the tokenizing threads: the vocabulary is read-only.
    tokenize_on_workers(
        block.size(), [&](size_t i) { return std::string_view(block[i].text); }, model_.config.text, threads_,
        [&](int, size_t i, TokenizedDocument&& tokens) {
          encoded[i] = encode_document(tokens, model_.vocabulary);
          read[i].empty = tokens.sentences.empty();
          read[i].sentences_cut = tokens.sentences_cut;
          read[i].words_cut = tokens.words_cut;
          read[i].bytes_cut = tokens.bytes_cut + block[i].bytes_unread;
          if (with_attention) tokenized[i] = std::move(tokens);
        });
    auto results = run(encoded, with_attention);
    for (size_t i = 0; i < block.size(); ++i) {
      Prediction& p = results[i].prediction;
      p.empty = read[i].empty;
      p.sentences_cut = read[i].sentences_cut;
      p.words_cut = read[i].words_cut;
      p.bytes_cut = read[i].bytes_cut;
      consume(with_attention ? std::move(tokenized[i]) : TokenizedDocument{}, std::move(results[i]));
    }
    if (progress) progress(static_cast<int64_t>(end), static_cast<int64_t>(documents.size()));
  }
}

std::vector<Prediction> Predictor::predict(const std::vector<Document>& documents,
                                           const ProgressCallback& progress) const {
  std::vector<Prediction> predictions;
  predictions.reserve(documents.size());
  run_blocks(documents, false, progress,
             [&](TokenizedDocument&&, Result&& r) { predictions.push_back(std::move(r.prediction)); });
  return predictions;
}

std::vector<Prediction> Predictor::predict_encoded(const std::vector<EncodedDocument>& documents) const {
  std::vector<Prediction> predictions;
  predictions.reserve(documents.size());
  for (auto& r : run(documents, false)) predictions.push_back(std::move(r.prediction));
  return predictions;
}

std::vector<Explanation> Predictor::explain(const std::vector<Document>& documents,
                                            const ProgressCallback& progress) const {
  std::vector<Explanation> explanations;
  explanations.reserve(documents.size());
  explain_each(
      documents, [&](size_t, Explanation&& e) { explanations.push_back(std::move(e)); }, progress);
  return explanations;
}

void Predictor::explain_each(const std::vector<Document>& documents,
                             const std::function<void(size_t, Explanation&&)>& consume,
                             const ProgressCallback& progress) const {
  size_t index = 0;
  run_blocks(documents, true, progress, [&](TokenizedDocument&& tokens, Result&& r) {
    Explanation e;
    e.pooling = model_.config.model.pooling;
    e.prediction = std::move(r.prediction);
    e.tokens = std::move(tokens);
    // encode_document skips empty sentences: map the weights back onto the
    // tokenizer's sentences, giving empty ones none.
    size_t next = 0;
    for (const Sentence& sentence : e.tokens.sentences) {
      if (sentence.words.empty() || next >= r.sentence_weights.size()) {
        e.sentence_weights.push_back(0.0f);
        e.word_weights.emplace_back();
        e.word_ids.emplace_back();
        continue;
      }
      e.sentence_weights.push_back(r.sentence_weights[next]);
      e.word_weights.push_back(std::move(r.word_weights[next]));
      e.word_ids.push_back(std::move(r.word_ids[next]));
      ++next;
    }
    consume(index++, std::move(e));
  });
}

MultiLabelReport evaluate_multilabel(const Model& model, const Corpus& corpus, int batch_size, int threads,
                                     const ProgressCallback& progress, const torch::Device& device,
                                     std::vector<Prediction>* predictions_out) {
  std::vector<std::vector<int32_t>> gold;
  gold.reserve(corpus.documents.size());
  for (const Document& d : corpus.documents) {
    std::vector<int32_t> ids;
    for (const std::string& label : labels_of(d)) {
      const int64_t id = model.labels.id(label);
      if (id < 0) {
        throw InputError(fmt::format("{}: label '{}' is not one the model knows ({})", d.origin, label,
                                     fmt::join(model.labels.names(), ", ")));
      }
      ids.push_back(static_cast<int32_t>(id));
    }
    gold.push_back(std::move(ids));
  }
  Predictor predictor(model, batch_size, threads, device);
  std::vector<std::vector<float>> probabilities;
  double loss = 0;
  for (Prediction& p : predictor.predict(corpus.documents, progress)) {
    for (size_t k = 0; k < p.probabilities.size(); ++k) {
      const bool has = std::find(gold[probabilities.size()].begin(), gold[probabilities.size()].end(),
                                 static_cast<int32_t>(k)) != gold[probabilities.size()].end();
      loss -= std::log(std::max(1e-12f, has ? p.probabilities[k] : 1.0f - p.probabilities[k]));
    }
    if (predictions_out) {
      predictions_out->push_back(p);
    }
    probabilities.push_back(std::move(p.probabilities));
  }
  MultiLabelReport report = compute_multilabel_metrics(gold, probabilities, model.thresholds, model.labels.names());
  report.loss = gold.empty() ? 0 : loss / static_cast<double>(gold.size());
  return report;
}

EvaluationReport evaluate(const Model& model, const Corpus& corpus, int batch_size, int threads,
                          const ProgressCallback& progress, std::vector<Prediction>* predictions_out,
                          const torch::Device& device) {
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
  Predictor predictor(model, batch_size, threads, device);
  auto predictions = predictor.predict(corpus.documents, progress);
  std::vector<int64_t> predicted;
  double loss = 0;
  for (size_t i = 0; i < predictions.size(); ++i) {
    predicted.push_back(predictions[i].label);
    loss -= std::log(std::max(1e-12f, predictions[i].probabilities[static_cast<size_t>(gold[i])]));
  }
  EvaluationReport report = compute_metrics(gold, predicted, model.labels.names());
  report.loss = predictions.empty() ? 0 : loss / static_cast<double>(predictions.size());
  if (predictions_out) *predictions_out = std::move(predictions);
  return report;
}

}  // namespace han
