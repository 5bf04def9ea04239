// Pretrained word vectors: word2vec text and binary formats and GloVe text,
// plain or gzipped. Only the vectors of vocabulary words are kept, so a file
// of millions of words costs one pass, not its size in memory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <torch/types.h>

#include "han/data/data.h"

namespace han {

enum class VectorFormat { Auto, Word2VecText, Word2VecBinary, GloveText };

// "auto", "word2vec", "word2vec-binary", "glove"; throws UsageError otherwise.
VectorFormat parse_vector_format(std::string_view name);
std::string to_string(VectorFormat format);

struct EmbeddingLoadReport {
  VectorFormat format = VectorFormat::Auto;  // the format actually read
  int64_t dimension = 0;
  int64_t vectors_in_file = 0;
  int64_t vocabulary_words = 0;  // PAD and UNK not counted
  int64_t found = 0;             // vocabulary words given a pretrained vector
  int64_t found_lowercased = 0;  // of those, matched through the file word's lower-case form
};

// Copies the vectors of vocabulary words into `weight` ([vocabulary, dim],
// float32, on the CPU); other rows keep their values. A file word that is
// not in the vocabulary is tried lower-cased when `lowercase` is set (the
// vocabulary holds lower-cased forms then); an exact match wins.
// Throws InputError naming the file (and line) on a dimension other than
// weight.size(1), a malformed line, or an unreadable or empty file.
EmbeddingLoadReport load_embeddings(const std::string& path, const Vocabulary& vocabulary, torch::Tensor& weight,
                                    bool lowercase, VectorFormat format = VectorFormat::Auto);

}  // namespace han
