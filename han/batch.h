// From tokenized documents to padded id tensors, and the paper's bucketing
// of documents with similar sentence counts.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include <torch/types.h>

#include "han/text.h"
#include "han/vocab.h"

namespace han {

struct EncodedDocument {
  std::vector<int32_t> word_ids;          // every word, sentence after sentence
  std::vector<int32_t> sentence_lengths;  // words per sentence, each at least 1
  int64_t label = -1;                     // -1 when unlabeled
};

// An empty document becomes one sentence holding UNK, so the model still
// answers for it; callers that train skip empty documents before this.
EncodedDocument encode_document(const TokenizedDocument& document, const Vocabulary& vocabulary,
                                int64_t label = -1);

// A padded batch plus the plan the word level runs on: real sentences sorted
// by length (longest first) and cut into chunks of similar length, so little
// work is spent on padding.
struct Batch {
  torch::Tensor word_ids;         // [docs, max_sents, max_words] int64, PAD on padding
  torch::Tensor word_counts;      // [docs, max_sents] int64, 0 on padding sentences
  torch::Tensor sentence_counts;  // [docs] int64, each at least 1
  torch::Tensor labels;           // [docs] int64; undefined when any document is unlabeled

  torch::Tensor sentence_order;   // [sentences] int64: flat index doc*max_sents+sent, longest first
  std::vector<int64_t> chunk_starts;   // offsets into sentence_order; one past the end last
  std::vector<int64_t> chunk_lengths;  // the longest sentence of each chunk

  int64_t documents() const { return word_ids.size(0); }
  // Moves every tensor; the plan stays on the CPU.
  Batch to(const torch::Device& device) const;
};

Batch make_batch(const std::vector<const EncodedDocument*>& documents);

// Batches of indices into `documents`. Sorted by sentence count, then cut
// into batches; with an rng, ties are shuffled and the batch order too.
std::vector<std::vector<int64_t>> bucket_batches(const std::vector<EncodedDocument>& documents,
                                                 int batch_size, std::mt19937_64* rng);

}  // namespace han

#include <functional>

#include "han/corpus.h"

namespace han {

// Tokenizes documents on `threads` threads (one ICU tokenizer each) and hands
// each result to `consume` on the calling thread, in document order.
void tokenize_documents(const std::vector<Document>& documents, const TextOptions& options, int threads,
                        const std::function<void(size_t index, TokenizedDocument&& tokens)>& consume);

}  // namespace han
