// Padded id tensors for the reference network, with the plan its word level
// runs on.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "han/data/data.h"

namespace han {

// A padded batch plus the plan the word level runs on: real sentences sorted
// by length (longest first) and cut into chunks of similar length, so little
// work is spent on padding.
struct Batch {
  torch::Tensor word_ids;         // [docs, max_sents, max_words] int64, PAD on padding
  torch::Tensor word_counts;      // [docs, max_sents] int64, 0 on padding sentences
  torch::Tensor sentence_counts;  // [docs] int64, each at least 1
  torch::Tensor labels;           // [docs] int64; undefined when any document is unlabeled

  torch::Tensor sentence_order;        // [sentences] int64: flat index doc*max_sents+sent, longest first
  std::vector<int64_t> chunk_starts;   // offsets into sentence_order; one past the end last
  std::vector<int64_t> chunk_lengths;  // the longest sentence of each chunk

  int64_t documents() const { return word_ids.size(0); }
  // Moves every tensor; the plan stays on the CPU.
  Batch to(const torch::Device& device) const;
};

Batch make_batch(const std::vector<const EncodedDocument*>& documents);

}  // namespace han
