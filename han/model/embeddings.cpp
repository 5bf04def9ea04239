#include "han/model/embeddings.h"

#include <unicode/locid.h>
#include <unicode/unistr.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "han/base/error.h"

namespace han {

VectorFormat parse_vector_format(std::string_view name) {
  if (name == "auto") return VectorFormat::Auto;
  if (name == "word2vec") return VectorFormat::Word2VecText;
  if (name == "word2vec-binary") return VectorFormat::Word2VecBinary;
  if (name == "glove") return VectorFormat::GloveText;
  throw UsageError(fmt::format("unknown vector format '{}' (expected auto, word2vec, word2vec-binary or glove)", name));
}

std::string to_string(VectorFormat format) {
  switch (format) {
    case VectorFormat::Auto:
      return "auto";
    case VectorFormat::Word2VecText:
      return "word2vec";
    case VectorFormat::Word2VecBinary:
      return "word2vec-binary";
    case VectorFormat::GloveText:
      return "glove";
  }
  return "auto";
}

namespace {

// Buffered reading through zlib, which reads plain files as they are.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) throw InputError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
    gzbuffer(file_, 1 << 18);
  }
  ~Reader() { gzclose(file_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Makes at least n bytes available unless the file ends first; returns how many are.
  size_t ensure(size_t n) {
    if (buffer_.size() - position_ >= n) return n;
    buffer_.erase(0, position_);
    position_ = 0;
    char chunk[1 << 16];
    while (buffer_.size() < n) {
      const int got = gzread(file_, chunk, sizeof(chunk));
      if (got < 0) {
        int code = 0;
        throw InputError(fmt::format("{}: cannot read ({})", path_, gzerror(file_, &code)));
      }
      if (got == 0) break;
      buffer_.append(chunk, static_cast<size_t>(got));
    }
    return std::min(n, buffer_.size());
  }
  std::string_view peek(size_t n) {
    const size_t have = ensure(n);
    return std::string_view(buffer_).substr(position_, have);
  }
  bool line(std::string& out) {
    out.clear();
    for (;;) {
      if (ensure(1) == 0) return !out.empty();
      const auto end = buffer_.find('\n', position_);
      if (end != std::string::npos) {
        out.append(buffer_, position_, end - position_);
        position_ = end + 1;
        if (!out.empty() && out.back() == '\r') out.pop_back();
        return true;
      }
      out.append(buffer_, position_, std::string::npos);
      position_ = buffer_.size();
    }
  }
  // Reads up to (not including) `stop`, which is consumed.
  bool until(char stop, std::string& out) {
    out.clear();
    for (;;) {
      if (ensure(1) == 0) return false;
      const char c = buffer_[position_++];
      if (c == stop) return true;
      out += c;
    }
  }
  bool bytes(void* out, size_t n) {
    if (ensure(n) < n) return false;
    std::memcpy(out, buffer_.data() + position_, n);
    position_ += n;
    return true;
  }
  void skip_newlines() {
    while (ensure(1) > 0 && (buffer_[position_] == '\n' || buffer_[position_] == '\r')) ++position_;
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
  std::string buffer_;
  size_t position_ = 0;
};

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool parse_int(std::string_view s, int64_t& value) {
  auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
  return error == std::errc() && end == s.data() + s.size();
}

// Puts vectors into the rows of vocabulary words; an exact match beats a lower-cased one.
class Sink {
 public:
  Sink(const Vocabulary& vocabulary, torch::Tensor& weight, bool lowercase)
      : vocabulary_(vocabulary),
        weight_(weight),
        lowercase_(lowercase),
        match_(static_cast<size_t>(vocabulary.size()), kNone) {}

  void put(const std::string& word, const float* values) {
    int32_t id = vocabulary_.id(word);
    uint8_t kind = kExact;
    if (id == Vocabulary::kUnk && lowercase_) {
      std::string lower;
      icu::UnicodeString::fromUTF8(word).toLower(icu::Locale::getRoot()).toUTF8String(lower);
      id = vocabulary_.id(lower);
      kind = kLowercased;
    }
    if (id <= Vocabulary::kUnk) return;  // PAD and UNK keep their own rows
    uint8_t& seen = match_[static_cast<size_t>(id)];
    if (seen >= kind) return;
    seen = kind;
    std::memcpy(weight_[id].data_ptr<float>(), values, static_cast<size_t>(weight_.size(1)) * sizeof(float));
  }

  void count(EmbeddingLoadReport& report) const {
    for (uint8_t m : match_) {
      report.found += m != kNone;
      report.found_lowercased += m == kLowercased;
    }
  }

 private:
  static constexpr uint8_t kNone = 0, kLowercased = 1, kExact = 2;
  const Vocabulary& vocabulary_;
  torch::Tensor& weight_;
  bool lowercase_;
  std::vector<uint8_t> match_;
};

std::string dimension_error(const std::string& where, int64_t found, int64_t expected) {
  return fmt::format(
      "{}: vectors have dimension {}, but model.embedding_dim is {} (train with --set "
      "model.embedding_dim={})",
      where, found, expected, found);
}

// Text line "word v1 ... vD"; the word may itself hold spaces (the last D fields are the values).
void read_text_vectors(Reader& reader, const std::string& path, int64_t dimension, int64_t first_line,
                       std::string& line, Sink& sink, EmbeddingLoadReport& report) {
  std::vector<float> values(static_cast<size_t>(dimension));
  int64_t number = first_line;
  bool have = !line.empty();
  if (!have) have = reader.line(line);
  for (; have; have = reader.line(line), ++number) {
    auto fields = split_spaces(line);
    if (fields.empty()) continue;
    const auto count = static_cast<int64_t>(fields.size());
    if (count < dimension + 1) {
      throw InputError(fmt::format("{}:{}: expected a word and {} values, found {} field{}", path, number, dimension,
                                   count, count == 1 ? "" : "s"));
    }
    const size_t first_value = fields.size() - static_cast<size_t>(dimension);
    for (size_t k = 0; k < static_cast<size_t>(dimension); ++k) {
      std::string_view field = fields[first_value + k];
      auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), values[k]);
      if (error != std::errc() || end != field.data() + field.size()) {
        throw InputError(fmt::format("{}:{}: value {} is not a number: '{}'", path, number, k + 1, field));
      }
      if (!std::isfinite(values[k])) {
        throw InputError(fmt::format("{}:{}: value {} is not finite: '{}'", path, number, k + 1, field));
      }
    }
    const char* word_end = fields[first_value - 1].data() + fields[first_value - 1].size();
    const std::string word(fields[0].data(), static_cast<size_t>(word_end - fields[0].data()));
    sink.put(word, values.data());
    ++report.vectors_in_file;
  }
}

// Whether the bytes after a word2vec header are text vectors. Text is
// printable ASCII; binary floats almost never are (1.0f is 00 00 80 3F). The
// first vector's line must be printable and either hold `dimension` values or
// be followed by text only: a binary float holding a 0A byte ends that "line"
// early, after a few bytes that may happen to be printable. A text value that
// is no number ("nan", "0x1p3") still reads as text and gets the text
// reader's error rather than a binary misreading.
bool looks_textual(std::string_view window, int64_t dimension) {
  const auto printable = [](char c) { return (c >= 0x20 && c < 0x7F) || c == '\t' || c == '\r'; };
  const std::string_view line = window.substr(0, window.find('\n'));
  const auto space = line.find(' ');
  const std::string_view values = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  if (values.empty() || !std::all_of(values.begin(), values.end(), printable)) return false;
  if (static_cast<int64_t>(split_spaces(values).size()) >= dimension) return true;
  const std::string_view rest = window.substr(space + 1);  // the word may be any UTF-8
  return std::all_of(rest.begin(), rest.end(), [&](char c) { return printable(c) || c == '\n'; });
}

}  // namespace

EmbeddingLoadReport load_embeddings(const std::string& path, const Vocabulary& vocabulary, torch::Tensor& weight,
                                    bool lowercase, VectorFormat format) {
  TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == torch::kFloat32 && weight.is_contiguous() &&
                  weight.device().is_cpu() && weight.size(0) == vocabulary.size(),
              "load_embeddings needs a contiguous float32 CPU weight of [vocabulary, dim]");
  const int64_t dimension = weight.size(1);
  EmbeddingLoadReport report;
  report.dimension = dimension;
  report.vocabulary_words = vocabulary.size() - 2;
  Reader reader(path);
  Sink sink(vocabulary, weight, lowercase);

  std::string line;
  if (!reader.line(line)) throw InputError(fmt::format("{}: empty vector file", path));
  const auto header = split_spaces(line);
  int64_t declared_count = 0, declared_dimension = 0;
  const bool has_header =
      header.size() == 2 && parse_int(header[0], declared_count) && parse_int(header[1], declared_dimension);
  if (format == VectorFormat::Auto) {
    if (!has_header) {
      format = VectorFormat::GloveText;
    } else {
      format = looks_textual(reader.peek(static_cast<size_t>(std::max<int64_t>(64, 16 * declared_dimension))),
                             declared_dimension)
                   ? VectorFormat::Word2VecText
                   : VectorFormat::Word2VecBinary;
    }
  }
  report.format = format;
  if ((format == VectorFormat::Word2VecText || format == VectorFormat::Word2VecBinary) && !has_header) {
    throw InputError(
        fmt::format("{}:1: expected the word2vec header 'COUNT DIMENSION', found '{}'", path, line.substr(0, 60)));
  }

  switch (format) {
    case VectorFormat::GloveText: {
      const auto fields = split_spaces(line);
      if (fields.size() >= 2 && static_cast<int64_t>(fields.size()) - 1 != dimension) {
        // The first line fixes the file's dimension; say that rather than "malformed".
        bool numeric = true;
        for (size_t k = 1; k < fields.size() && numeric; ++k) {
          float v;
          auto [end, error] = std::from_chars(fields[k].data(), fields[k].data() + fields[k].size(), v);
          numeric = error == std::errc() && end == fields[k].data() + fields[k].size();
        }
        if (numeric) throw InputError(dimension_error(path, static_cast<int64_t>(fields.size()) - 1, dimension));
      }
      read_text_vectors(reader, path, dimension, 1, line, sink, report);
      break;
    }
    case VectorFormat::Word2VecText:
      if (declared_dimension != dimension) throw InputError(dimension_error(path, declared_dimension, dimension));
      line.clear();
      read_text_vectors(reader, path, dimension, 2, line, sink, report);
      break;
    case VectorFormat::Word2VecBinary: {
      if (declared_dimension != dimension) throw InputError(dimension_error(path, declared_dimension, dimension));
      std::vector<float> values(static_cast<size_t>(dimension));
      std::string word;
      for (int64_t i = 0; i < declared_count; ++i) {
        reader.skip_newlines();
        if (!reader.until(' ', word) || !reader.bytes(values.data(), values.size() * sizeof(float))) {
          throw InputError(
              fmt::format("{}: truncated after {} of the {} vectors its header declares", path, i, declared_count));
        }
        if (!std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); })) {
          throw InputError(fmt::format("{}: vector {} ('{}') holds a value that is not finite (NaN or infinity)", path,
                                       i + 1, word));
        }
        sink.put(word, values.data());
        ++report.vectors_in_file;
      }
      break;
    }
    case VectorFormat::Auto:
      break;
  }
  if (report.vectors_in_file == 0) throw InputError(fmt::format("{}: holds no vectors", path));
  sink.count(report);
  return report;
}

}  // namespace han
