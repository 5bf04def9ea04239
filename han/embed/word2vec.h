// Word vectors trained on raw text with skip-gram and negative sampling
// (Mikolov et al., 2013), the way the HAN paper pretrained its embeddings.
// Torch-free: plain loops over float rows, several threads updating shared
// rows without locks, as the original word2vec tool does.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "han/text/text.h"

namespace han {

struct Word2VecOptions {
  int dimension = 200;
  int window = 5;           // largest distance to a context word; each centre draws 1..window
  int negative = 5;         // noise words per (centre, context) pair
  int min_count = 5;        // keep words seen at least this often
  int64_t max_vocab = 0;    // keep only the most frequent words; 0: no cap
  double subsample = 1e-4;  // threshold t of frequent-word subsampling; 0 turns it off
  int epochs = 5;
  double learning_rate = 0.025;  // decays linearly to 1e-4 of itself over the run
  int threads = 1;
  uint64_t seed = 1;  // with one thread, a seed gives the same vectors every time
};

// Throws UsageError naming the option when a value is out of range.
void validate(const Word2VecOptions& options);

// Text as word ids, one sequence per document; words below min_count are dropped.
struct EncodedText {
  std::vector<std::string> words;  // most frequent first, ties in byte order
  std::vector<int64_t> counts;     // occurrences of each word
  std::vector<int32_t> ids;        // every document's kept words, concatenated
  std::vector<int64_t> offsets;    // document d is ids[offsets[d], offsets[d + 1])
  int64_t tokens = 0;              // all tokens read, dropped ones included
  // Documents from this index on are read once in the whole run, a 1/epochs
  // share of them in each epoch, rather than once an epoch: a large extra
  // text beside a small one costs one pass, not `epochs`. -1: none.
  int64_t read_once_from = -1;
  int64_t documents() const { return offsets.empty() ? 0 : static_cast<int64_t>(offsets.size()) - 1; }
};

// Tokenizes `count` texts on `threads` threads with the classifier's text
// pipeline (`text` options; its caps apply too) and encodes them.
// `on_progress` receives the number of documents done so far.
EncodedText encode_texts(size_t count, const std::function<std::string_view(size_t index)>& text_of,
                         const TextOptions& text, int min_count, int64_t max_vocab, int threads,
                         const std::function<void(size_t done)>& on_progress = {});

struct WordVectors {
  int dimension = 0;
  std::vector<std::string> words;
  std::vector<float> values;  // [words, dimension], row-major

  int64_t size() const { return static_cast<int64_t>(words.size()); }
  const float* row(int64_t index) const { return values.data() + index * dimension; }
  int64_t find(std::string_view word) const;  // -1 when absent
  // The k words most similar to `word` by cosine, best first; empty when the word is absent.
  std::vector<std::pair<std::string, float>> nearest(std::string_view word, int k) const;
};

struct Word2VecProgress {
  int epoch = 0;  // 1-based
  int epochs = 0;
  int64_t words_done = 0;   // vocabulary words read so far, over all epochs
  int64_t words_total = 0;  // vocabulary words in all epochs
  double learning_rate = 0;
  double words_per_second = 0;  // all threads together
};

// Trains vectors for text.words. `on_progress` is called from the calling
// thread about five times a second and once at the end of each epoch.
WordVectors train_word2vec(const EncodedText& text, const Word2VecOptions& options,
                           const std::function<void(const Word2VecProgress&)>& on_progress = {});

// Writes the word2vec text format ("WORDS DIM" header, then "word v1 … vD"),
// or with `binary` the word2vec binary format; atomically.
void save_word_vectors(const WordVectors& vectors, const std::string& path, bool binary = false);

}  // namespace han
