#include "han/batch.h"

#include <algorithm>
#include <numeric>

namespace han {

EncodedDocument encode_document(const TokenizedDocument& document, const Vocabulary& vocabulary,
                                int64_t label) {
  EncodedDocument encoded;
  encoded.label = label;
  for (const Sentence& sentence : document.sentences) {
    if (sentence.words.empty()) continue;
    for (const Token& token : sentence.words) encoded.word_ids.push_back(vocabulary.id(token.form));
    encoded.sentence_lengths.push_back(static_cast<int32_t>(sentence.words.size()));
  }
  if (encoded.sentence_lengths.empty()) {
    encoded.word_ids.push_back(Vocabulary::kUnk);
    encoded.sentence_lengths.push_back(1);
  }
  return encoded;
}

namespace {

// A new chunk starts once sentences get shorter than this share of the
// chunk's longest: padding stays under half of each chunk's work.
constexpr double kChunkLengthRatio = 0.5;
constexpr int64_t kMinChunkSentences = 16;

}  // namespace

Batch make_batch(const std::vector<const EncodedDocument*>& documents) {
  const auto docs = static_cast<int64_t>(documents.size());
  int64_t max_sents = 1, max_words = 1;
  bool labeled = true;
  for (const EncodedDocument* d : documents) {
    max_sents = std::max<int64_t>(max_sents, static_cast<int64_t>(d->sentence_lengths.size()));
    for (int32_t n : d->sentence_lengths) max_words = std::max<int64_t>(max_words, n);
    labeled = labeled && d->label >= 0;
  }

  Batch batch;
  batch.word_ids = torch::zeros({docs, max_sents, max_words}, torch::kInt64);
  batch.word_counts = torch::zeros({docs, max_sents}, torch::kInt64);
  batch.sentence_counts = torch::zeros({docs}, torch::kInt64);
  auto ids = batch.word_ids.accessor<int64_t, 3>();
  auto counts = batch.word_counts.accessor<int64_t, 2>();
  auto sent_counts = batch.sentence_counts.accessor<int64_t, 1>();
  std::vector<std::pair<int64_t, int64_t>> sentences;  // (length, flat index)
  for (int64_t d = 0; d < docs; ++d) {
    const EncodedDocument& doc = *documents[static_cast<size_t>(d)];
    size_t offset = 0;
    sent_counts[d] = static_cast<int64_t>(doc.sentence_lengths.size());
    for (size_t s = 0; s < doc.sentence_lengths.size(); ++s) {
      const int32_t n = doc.sentence_lengths[s];
      counts[d][static_cast<int64_t>(s)] = n;
      for (int32_t w = 0; w < n; ++w) ids[d][static_cast<int64_t>(s)][w] = doc.word_ids[offset + w];
      offset += static_cast<size_t>(n);
      sentences.emplace_back(n, d * max_sents + static_cast<int64_t>(s));
    }
  }
  if (labeled) {
    batch.labels = torch::empty({docs}, torch::kInt64);
    for (int64_t d = 0; d < docs; ++d) batch.labels[d] = documents[static_cast<size_t>(d)]->label;
  }

  // Longest first; equal lengths keep document order, so the plan is deterministic.
  std::stable_sort(sentences.begin(), sentences.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  batch.sentence_order = torch::empty({static_cast<int64_t>(sentences.size())}, torch::kInt64);
  auto order = batch.sentence_order.accessor<int64_t, 1>();
  for (size_t i = 0; i < sentences.size(); ++i) {
    order[static_cast<int64_t>(i)] = sentences[i].second;
    const int64_t length = sentences[i].first;
    const bool new_chunk =
        batch.chunk_starts.empty() ||
        (static_cast<int64_t>(i) - batch.chunk_starts.back() >= kMinChunkSentences &&
         static_cast<double>(length) < kChunkLengthRatio * static_cast<double>(batch.chunk_lengths.back()));
    if (new_chunk) {
      batch.chunk_starts.push_back(static_cast<int64_t>(i));
      batch.chunk_lengths.push_back(length);
    }
  }
  batch.chunk_starts.push_back(static_cast<int64_t>(sentences.size()));
  return batch;
}

Batch Batch::to(const torch::Device& device) const {
  Batch moved = *this;
  if (device == word_ids.device()) return moved;
  moved.word_ids = word_ids.to(device);
  moved.word_counts = word_counts.to(device);
  moved.sentence_counts = sentence_counts.to(device);
  if (labels.defined()) moved.labels = labels.to(device);
  moved.sentence_order = sentence_order.to(device);
  return moved;
}

std::vector<std::vector<int64_t>> bucket_batches(const std::vector<EncodedDocument>& documents,
                                                 int batch_size, std::mt19937_64* rng) {
  std::vector<int64_t> order(documents.size());
  std::iota(order.begin(), order.end(), 0);
  if (rng) std::shuffle(order.begin(), order.end(), *rng);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return documents[static_cast<size_t>(a)].sentence_lengths.size() <
           documents[static_cast<size_t>(b)].sentence_lengths.size();
  });
  std::vector<std::vector<int64_t>> batches;
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(batch_size));
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start),
                         order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  if (rng) std::shuffle(batches.begin(), batches.end(), *rng);
  return batches;
}

void tokenize_documents(const std::vector<Document>& documents, const TextOptions& options, int threads,
                        const std::function<void(size_t, TokenizedDocument&&)>& consume) {
  tokenize_parallel(
      documents.size(), [&](size_t i) { return std::string_view(documents[i].text); }, options, threads, consume);
}

}  // namespace han
