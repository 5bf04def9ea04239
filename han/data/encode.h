// From tokenized text to word ids: interning forms during tokenization,
// encoding with a vocabulary, and the paper's bucketing of documents with
// similar sentence counts. LibTorch-free; model/batch.h makes tensors of it.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "han/data/corpus.h"
#include "han/data/vocab.h"
#include "han/text/text.h"

namespace han {

struct EncodedDocument {
  std::vector<int32_t> word_ids;          // every word, sentence after sentence
  std::vector<int32_t> sentence_lengths;  // words per sentence, each at least 1
  int64_t label = -1;                     // -1 when unlabeled; a multi-label document's first label
  std::vector<int32_t> targets;           // multi-label models: every label id of the document
};

// An empty document becomes one sentence holding UNK, so the model still
// answers for it; callers that train skip empty documents before this.
EncodedDocument encode_document(const TokenizedDocument& document, const Vocabulary& vocabulary, int64_t label = -1);

// Batches of indices into `documents`. Sorted by sentence count, then cut
// into batches; with an rng, ties are shuffled and the batch order too.
std::vector<std::vector<int64_t>> bucket_batches(const std::vector<EncodedDocument>& documents, int batch_size,
                                                 std::mt19937_64* rng);
// The same, given each document's sentence count.
std::vector<std::vector<int64_t>> bucket_batches(const std::vector<int32_t>& sentences, int batch_size,
                                                 std::mt19937_64* rng);

// Counts of what the text pipeline cut or skipped.
struct TextReport {
  int64_t documents = 0;
  int64_t empty_documents = 0;      // skipped from training
  int64_t truncated_documents = 0;  // documents that lost sentences or words to the caps
  int64_t sentences_cut = 0;
  int64_t words_cut = 0;
  int64_t bytes_cut = 0;  // past text.max_bytes
  int64_t tokens = 0;
};

// Distinct word forms and their ids, in order of first appearance. An
// open-addressing table over one string arena: interning runs once per token
// of a corpus, and std::unordered_map<std::string, int> made it cost as much
// as ICU's word breaking.
class FormTable {
 public:
  FormTable();
  int32_t intern(std::string_view form);
  int32_t size() const { return static_cast<int32_t>(hashes_.size()); }
  std::string_view form(int32_t id) const {
    return std::string_view(arena_).substr(offsets_[static_cast<size_t>(id)],
                                           offsets_[static_cast<size_t>(id) + 1] - offsets_[static_cast<size_t>(id)]);
  }

 private:
  void grow();
  std::string arena_;               // every form, one after another
  std::vector<size_t> offsets_{0};  // form id -> start in arena_; one past the end last
  std::vector<uint64_t> hashes_;    // by form id
  std::vector<int32_t> slots_;      // form ids, -1 when free; a power of two long
};

// A document tokenized once and held as ids of `FormTable` forms (4 bytes a
// token) until a vocabulary exists.
struct InternedDocument {
  std::vector<int32_t> forms;
  std::vector<int32_t> sentence_lengths;
  int64_t label = -1;
  std::vector<int32_t> targets;  // multi-label: every label id
};

// Tokenizes documents on `threads` threads, each interning into a table of
// its own (interning costs as much as tokenizing: done on one thread, it
// halved the throughput), then merges those tables into `table`. Adds to
// `report`; `on_done` sees the documents done so far, on the calling thread.
std::vector<InternedDocument> intern_documents(const std::vector<Document>& documents, const TextOptions& options,
                                               int threads, FormTable& table, TextReport& report,
                                               const std::function<void(int64_t done)>& on_done = {});

// How often each form occurs in `documents`, for Vocabulary::build.
WordCounter count_forms(const FormTable& table, const std::vector<InternedDocument>& documents);

// The vocabulary id of every form of `table` (UNK for those it lacks).
std::vector<int32_t> vocabulary_ids(const FormTable& table, const Vocabulary& vocabulary);

// Vocabulary ids of interned forms.
EncodedDocument encode_interned(const InternedDocument& document, const std::vector<int32_t>& form_to_word);
// The same, reusing the document's memory.
EncodedDocument encode_interned(InternedDocument&& document, const std::vector<int32_t>& form_to_word);

}  // namespace han
