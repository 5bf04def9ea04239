#include "han/embed/word2vec.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include <fmt/format.h>

#include "han/base/error.h"
#include "han/base/file_io.h"
#include "han/base/parallel.h"
#include "han/base/random.h"
#include "han/base/vector_math.h"

namespace han {

namespace {

// The training loop is compiled once per instruction set and picked at load
// time (HAN_VECTOR_CLONES), so a portable binary still gets AVX2 or AVX-512
// on the dot products.

constexpr float kMaxLogit = 6.0f;  // beyond it the sigmoid is taken as 0 or 1
constexpr int kSigmoidSteps = 1000;
constexpr int64_t kProgressWords = 10000;  // words between learning-rate updates

using Random = SplitMix64;

// Walker's alias method: O(1) draws from the noise distribution count^0.75,
// with two small arrays instead of word2vec's 100-million-entry table.
class AliasTable {
 public:
  explicit AliasTable(const std::vector<double>& weights) : probability_(weights.size()), alias_(weights.size()) {
    const size_t n = weights.size();
    const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
    std::vector<double> scaled(n);
    std::vector<uint32_t> small, large;
    for (size_t i = 0; i < n; ++i) {
      scaled[i] = weights[i] * static_cast<double>(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const uint32_t s = small.back(), l = large.back();
      small.pop_back();
      probability_[s] = static_cast<float>(scaled[s]);
      alias_[s] = l;
      scaled[l] -= 1.0 - scaled[s];
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (uint32_t i : large) probability_[i] = 1.0f, alias_[i] = i;
    for (uint32_t i : small) probability_[i] = 1.0f, alias_[i] = i;
  }
  int32_t draw(Random& random) const {
    const uint64_t bits = random.next();
    const uint32_t column = static_cast<uint32_t>((bits >> 32) % probability_.size());
    const float coin = static_cast<float>(bits & 0xFFFFFF) * (1.0f / 16777216.0f);
    return static_cast<int32_t>(coin < probability_[column] ? column : alias_[column]);
  }

 private:
  std::vector<float> probability_;
  std::vector<uint32_t> alias_;
};

struct Shared {
  const Word2VecOptions& options;
  float* input;   // [words, dim]: the vectors written out
  float* output;  // [words, dim]: the negative-sampling weights
  const AliasTable& noise;
  const std::vector<float>& keep_probability;  // per word, for subsampling
  const std::vector<float>& sigmoid;           // kSigmoidSteps entries over [-6, 6]
  std::atomic<int64_t> words_done{0};          // over all epochs
  int64_t words_total = 0;
  std::atomic<float> learning_rate{0};
};

// One document: subsample, then one skip-gram update per (centre, context) pair.
// The context word's input row is trained to predict the centre through the
// output rows of the centre (label 1) and of `negative` noise words (label 0).
// Threads update the shared rows without locks (Hogwild).
HAN_VECTOR_CLONES HAN_RACY_BY_DESIGN void train_sequence(Shared& shared, const int32_t* ids, int64_t length,
                                                         Random& random, std::vector<int32_t>& kept,
                                                         std::vector<float>& gradient, int64_t& words_since_update,
                                                         float& learning_rate) {
  const Word2VecOptions& options = shared.options;
  const int dim = options.dimension;
  kept.clear();
  for (int64_t i = 0; i < length; ++i) {
    const int32_t word = ids[i];
    if (options.subsample > 0 && shared.keep_probability[static_cast<size_t>(word)] < random.uniform()) continue;
    kept.push_back(word);
  }
  words_since_update += length;
  if (words_since_update >= kProgressWords) {
    const int64_t done = shared.words_done.fetch_add(words_since_update) + words_since_update;
    words_since_update = 0;
    const double left = 1.0 - static_cast<double>(done) / static_cast<double>(shared.words_total + 1);
    learning_rate = static_cast<float>(options.learning_rate * std::max(left, 1e-4));
    shared.learning_rate.store(learning_rate, std::memory_order_relaxed);
  }

  const int64_t n = static_cast<int64_t>(kept.size());
  float* grad = gradient.data();
  for (int64_t position = 0; position < n; ++position) {
    const int32_t centre = kept[static_cast<size_t>(position)];
    const int64_t reach = 1 + static_cast<int64_t>(random.below(static_cast<uint64_t>(options.window)));
    const int64_t first = std::max<int64_t>(0, position - reach);
    const int64_t last = std::min<int64_t>(n - 1, position + reach);
    for (int64_t c = first; c <= last; ++c) {
      if (c == position) continue;
      float* in = shared.input + static_cast<int64_t>(kept[static_cast<size_t>(c)]) * dim;
      std::fill(grad, grad + dim, 0.0f);
      for (int k = 0; k <= options.negative; ++k) {
        int32_t target = centre;
        float label = 1.0f;
        if (k > 0) {
          target = shared.noise.draw(random);
          if (target == centre) continue;
          label = 0.0f;
        }
        float* out = shared.output + static_cast<int64_t>(target) * dim;
        float logit = 0.0f;
#pragma omp simd reduction(+ : logit)
        for (int d = 0; d < dim; ++d) logit += in[d] * out[d];
        float g;
        if (logit > kMaxLogit) {
          g = (label - 1.0f) * learning_rate;
        } else if (logit < -kMaxLogit) {
          g = label * learning_rate;
        } else {
          const int step = static_cast<int>((logit + kMaxLogit) * (kSigmoidSteps / (2 * kMaxLogit)));
          g = (label - shared.sigmoid[static_cast<size_t>(std::min(step, kSigmoidSteps - 1))]) * learning_rate;
        }
#pragma omp simd
        for (int d = 0; d < dim; ++d) {
          grad[d] += g * out[d];
          out[d] += g * in[d];
        }
      }
#pragma omp simd
      for (int d = 0; d < dim; ++d) in[d] += grad[d];
    }
  }
}

// The first document read once in the whole run (documents() when none is).
int64_t first_read_once(const EncodedText& text) {
  const int64_t docs = text.documents();
  return text.read_once_from < 0 ? docs : std::min(text.read_once_from, docs);
}

// The documents epoch `epoch` (1-based) of `epochs` reads, in order: every one
// before text.read_once_from, then that epoch's share of the rest.
std::vector<int64_t> epoch_documents(const EncodedText& text, int epoch, int epochs) {
  const int64_t docs = text.documents();
  const int64_t once = first_read_once(text);
  const int64_t rest = docs - once;
  std::vector<int64_t> order(static_cast<size_t>(once));
  std::iota(order.begin(), order.end(), int64_t{0});
  for (int64_t d = once + rest * (epoch - 1) / epochs; d < once + rest * epoch / epochs; ++d) order.push_back(d);
  return order;
}

int64_t words_of(const EncodedText& text, int64_t document) {
  return text.offsets[static_cast<size_t>(document) + 1] - text.offsets[static_cast<size_t>(document)];
}

// Contiguous ranges of `order` with about equal numbers of words.
std::vector<size_t> shard_bounds(const EncodedText& text, const std::vector<int64_t>& order, int shards) {
  int64_t words = 0;
  for (const int64_t d : order) words += words_of(text, d);
  std::vector<size_t> bounds{0};
  size_t k = 0;
  int64_t before = 0;  // words in order[0, k)
  for (int s = 1; s < shards; ++s) {
    const int64_t goal = words * s / shards;
    while (k < order.size() && before < goal) before += words_of(text, order[k++]);
    bounds.push_back(k);
  }
  bounds.push_back(order.size());
  return bounds;
}

}  // namespace

void validate(const Word2VecOptions& o) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw UsageError(what);
  };
  need(o.dimension >= 1 && o.dimension <= 10000, fmt::format("--dim must be 1 to 10000 (got {})", o.dimension));
  need(o.window >= 1 && o.window <= 100, fmt::format("--window must be 1 to 100 (got {})", o.window));
  need(o.negative >= 1 && o.negative <= 100, fmt::format("--negative must be 1 to 100 (got {})", o.negative));
  need(o.min_count >= 1, fmt::format("--min-count must be at least 1 (got {})", o.min_count));
  need(o.max_vocab >= 0, fmt::format("--max-vocab must be 0 (no cap) or more (got {})", o.max_vocab));
  need(o.subsample >= 0 && o.subsample < 1, fmt::format("--sample must be in [0, 1) (got {})", o.subsample));
  need(o.epochs >= 1, fmt::format("--epochs must be at least 1 (got {})", o.epochs));
  need(o.learning_rate > 0 && o.learning_rate <= 1, fmt::format("--lr must be in (0, 1] (got {})", o.learning_rate));
  need(o.threads >= 1 && o.threads <= 1024, fmt::format("--threads must be 1 to 1024 (got {})", o.threads));
}

EncodedText encode_texts(size_t count, const std::function<std::string_view(size_t)>& text_of, const TextOptions& text,
                         int min_count, int64_t max_vocab, int threads,
                         const std::function<void(size_t)>& on_progress) {
  // Intern forms in order of first appearance, then rank them by count.
  std::unordered_map<std::string, int32_t> interned;
  std::vector<const std::string*> forms;
  std::vector<int64_t> form_counts;
  EncodedText encoded;
  encoded.offsets.reserve(count + 1);
  encoded.offsets.push_back(0);
  tokenize_parallel(count, text_of, text, threads, [&](size_t index, TokenizedDocument&& doc) {
    for (const Sentence& sentence : doc.sentences) {
      for (const Token& token : sentence.words) {
        auto [it, added] = interned.try_emplace(token.form, static_cast<int32_t>(forms.size()));
        if (added) {
          forms.push_back(&it->first);
          form_counts.push_back(0);
        }
        ++form_counts[static_cast<size_t>(it->second)];
        encoded.ids.push_back(it->second);
      }
    }
    encoded.offsets.push_back(static_cast<int64_t>(encoded.ids.size()));
    if (on_progress) on_progress(index + 1);
  });
  encoded.tokens = static_cast<int64_t>(encoded.ids.size());

  std::vector<int32_t> order;
  for (size_t f = 0; f < forms.size(); ++f) {
    if (form_counts[f] >= min_count) order.push_back(static_cast<int32_t>(f));
  }
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    if (form_counts[static_cast<size_t>(a)] != form_counts[static_cast<size_t>(b)]) {
      return form_counts[static_cast<size_t>(a)] > form_counts[static_cast<size_t>(b)];
    }
    return *forms[static_cast<size_t>(a)] < *forms[static_cast<size_t>(b)];
  });
  if (max_vocab > 0 && static_cast<int64_t>(order.size()) > max_vocab) order.resize(static_cast<size_t>(max_vocab));
  std::vector<int32_t> form_to_word(forms.size(), -1);
  for (size_t w = 0; w < order.size(); ++w) {
    const size_t f = static_cast<size_t>(order[w]);
    form_to_word[f] = static_cast<int32_t>(w);
    encoded.words.push_back(*forms[f]);
    encoded.counts.push_back(form_counts[f]);
  }

  // Drop the words left out, compacting in place.
  size_t write = 0;
  size_t read = 0;
  for (size_t d = 1; d < encoded.offsets.size(); ++d) {
    const size_t end = static_cast<size_t>(encoded.offsets[d]);
    for (; read < end; ++read) {
      const int32_t word = form_to_word[static_cast<size_t>(encoded.ids[read])];
      if (word >= 0) encoded.ids[write++] = word;
    }
    encoded.offsets[d] = static_cast<int64_t>(write);
  }
  encoded.ids.resize(write);
  encoded.ids.shrink_to_fit();
  return encoded;
}

int64_t WordVectors::find(std::string_view word) const {
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] == word) return static_cast<int64_t>(i);
  }
  return -1;
}

std::vector<std::pair<std::string, float>> WordVectors::nearest(std::string_view word, int k) const {
  const int64_t query = find(word);
  if (query < 0 || k <= 0) return {};
  auto norm = [&](int64_t i) {
    double sum = 0;
    for (int d = 0; d < dimension; ++d) sum += static_cast<double>(row(i)[d]) * row(i)[d];
    return std::sqrt(sum);
  };
  const double query_norm = norm(query);
  std::vector<std::pair<float, int64_t>> scored;
  for (int64_t i = 0; i < size(); ++i) {
    if (i == query) continue;
    double dot = 0;
    for (int d = 0; d < dimension; ++d) dot += static_cast<double>(row(i)[d]) * row(query)[d];
    const double denominator = norm(i) * query_norm;
    scored.emplace_back(denominator > 0 ? static_cast<float>(dot / denominator) : 0.0f, i);
  }
  const size_t keep = std::min(scored.size(), static_cast<size_t>(k));
  std::partial_sort(
      scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(keep), scored.end(),
      [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  std::vector<std::pair<std::string, float>> result;
  for (size_t i = 0; i < keep; ++i) result.emplace_back(words[static_cast<size_t>(scored[i].second)], scored[i].first);
  return result;
}

WordVectors train_word2vec(const EncodedText& text, const Word2VecOptions& options,
                           const std::function<void(const Word2VecProgress&)>& on_progress) {
  validate(options);
  const int64_t vocabulary = static_cast<int64_t>(text.words.size());
  if (vocabulary == 0) throw InputError("no word is frequent enough to train vectors (lower --min-count)");
  const int dim = options.dimension;

  WordVectors vectors;
  vectors.dimension = dim;
  vectors.words = text.words;
  vectors.values.resize(static_cast<size_t>(vocabulary * dim));
  std::vector<float> output(static_cast<size_t>(vocabulary * dim), 0.0f);
  Random init{options.seed};
  for (float& v : vectors.values) v = (init.uniform() - 0.5f) / static_cast<float>(dim);

  std::vector<double> noise_weights(static_cast<size_t>(vocabulary));
  std::vector<float> keep_probability(static_cast<size_t>(vocabulary), 1.0f);
  const double total = static_cast<double>(std::accumulate(text.counts.begin(), text.counts.end(), int64_t{0}));
  for (size_t w = 0; w < static_cast<size_t>(vocabulary); ++w) {
    const double count = static_cast<double>(text.counts[w]);
    noise_weights[w] = std::pow(count, 0.75);
    if (options.subsample > 0) {
      // Mikolov et al.'s rule as the word2vec tool applies it: keep with probability
      // (sqrt(f / t) + 1) * t / f, where f is the word's share of the corpus.
      const double threshold = options.subsample * total;
      keep_probability[w] = static_cast<float>(std::min(1.0, (std::sqrt(count / threshold) + 1) * threshold / count));
    }
  }
  const AliasTable noise(noise_weights);
  std::vector<float> sigmoid(kSigmoidSteps);
  for (int i = 0; i < kSigmoidSteps; ++i) {
    const double x = (static_cast<double>(i) + 0.5) / kSigmoidSteps * 2 * kMaxLogit - kMaxLogit;
    sigmoid[static_cast<size_t>(i)] = static_cast<float>(1.0 / (1.0 + std::exp(-x)));
  }

  Shared shared{options, vectors.values.data(), output.data(), noise, keep_probability, sigmoid};
  // Every document before read_once_from each epoch, the rest once in all.
  const int64_t once_words = text.offsets.empty() ? 0 : text.offsets[static_cast<size_t>(first_read_once(text))];
  shared.words_total = once_words * options.epochs + static_cast<int64_t>(text.ids.size()) - once_words;
  shared.learning_rate = static_cast<float>(options.learning_rate);
  const int threads =
      std::max(1, std::min<int>(options.threads, static_cast<int>(std::max<int64_t>(1, text.documents()))));
  const auto start = std::chrono::steady_clock::now();

  auto report = [&](int epoch) {
    if (!on_progress) return;
    Word2VecProgress progress;
    progress.epoch = epoch;
    progress.epochs = options.epochs;
    progress.words_done = std::min(shared.words_done.load(), shared.words_total);
    progress.words_total = shared.words_total;
    progress.learning_rate = shared.learning_rate.load();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress.words_per_second = seconds > 0 ? static_cast<double>(progress.words_done) / seconds : 0;
    on_progress(progress);
  };

  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    const std::vector<int64_t> order = epoch_documents(text, epoch, options.epochs);
    const std::vector<size_t> bounds = shard_bounds(text, order, threads);
    auto work = [&](int t) {
      // A separate stream per thread and epoch keeps one-thread runs reproducible.
      Random random{options.seed * 0x2545F4914F6CDD1Dull + static_cast<uint64_t>(epoch) * 1000003u +
                    static_cast<uint64_t>(t)};
      std::vector<int32_t> kept;
      std::vector<float> gradient(static_cast<size_t>(dim));
      int64_t since_update = 0;
      float learning_rate = shared.learning_rate.load();
      for (size_t k = bounds[static_cast<size_t>(t)]; k < bounds[static_cast<size_t>(t) + 1]; ++k) {
        const int64_t d = order[k];
        const int64_t begin = text.offsets[static_cast<size_t>(d)];
        const int64_t end = text.offsets[static_cast<size_t>(d) + 1];
        train_sequence(shared, text.ids.data() + begin, end - begin, random, kept, gradient, since_update,
                       learning_rate);
      }
      shared.words_done += since_update;
    };
    run_on_threads_watched(threads, work, std::chrono::milliseconds(200), [&] { report(epoch); });
    report(epoch);
  }
  return vectors;
}

void save_word_vectors(const WordVectors& vectors, const std::string& path, bool binary) {
  std::string bytes;
  bytes.reserve(static_cast<size_t>(vectors.size()) * static_cast<size_t>(vectors.dimension) * (binary ? 4 : 10));
  fmt::format_to(std::back_inserter(bytes), "{} {}\n", vectors.size(), vectors.dimension);
  for (int64_t i = 0; i < vectors.size(); ++i) {
    bytes += vectors.words[static_cast<size_t>(i)];
    const float* row = vectors.row(i);
    if (binary) {
      bytes += ' ';
      bytes.append(reinterpret_cast<const char*>(row), sizeof(float) * static_cast<size_t>(vectors.dimension));
    } else {
      for (int d = 0; d < vectors.dimension; ++d) fmt::format_to(std::back_inserter(bytes), " {:.6g}", row[d]);
    }
    bytes += '\n';
  }
  write_file_atomically(path, bytes);
}

}  // namespace han
