#include "han/model/batch.h"

#include <algorithm>
#include <utility>

namespace han {

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
  std::stable_sort(sentences.begin(), sentences.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
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
  // To a GPU from pinned memory, asynchronously: the copy overlaps the work
  // already queued on the device (the previous batch's).
  const bool pinned = device.is_cuda();
  auto move = [&](const torch::Tensor& t) { return (pinned ? t.pin_memory() : t).to(device, /*non_blocking=*/pinned); };
  moved.word_ids = move(word_ids);
  moved.word_counts = move(word_counts);
  moved.sentence_counts = move(sentence_counts);
  if (labels.defined()) moved.labels = move(labels);
  moved.sentence_order = move(sentence_order);
  return moved;
}

}  // namespace han
