// Skip-gram vectors: encoding, reproducibility, the files written, and
// nearest neighbours on a corpus with planted co-occurrences.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "han/base/error.h"
#include "han/embed/word2vec.h"

namespace fs = std::filesystem;

namespace {

han::EncodedText encode(const std::vector<std::string>& texts, int min_count = 1, int64_t max_vocab = 0) {
  return han::encode_texts(
      texts.size(), [&](size_t i) { return std::string_view(texts[i]); }, han::TextOptions{}, min_count, max_vocab, 1);
}

// Groups of words that only ever share sentences with each other, among filler
// words drawn from a larger pool; each sentence mixes one group with filler.
std::vector<std::string> planted_corpus(int groups, int group_size, int documents, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<std::string> texts;
  for (int d = 0; d < documents; ++d) {
    std::string text;
    for (int s = 0; s < 8; ++s) {
      const int group = static_cast<int>(random() % static_cast<uint64_t>(groups));
      std::vector<std::string> sentence;
      for (int w = 0; w < 4; ++w) sentence.push_back(fmt::format("g{}w{}", group, random() % group_size));
      for (int w = 0; w < 6; ++w) sentence.push_back(fmt::format("filler{}", random() % 300));
      std::shuffle(sentence.begin(), sentence.end(), random);
      for (const auto& word : sentence) text += word + " ";
      text += ". ";
    }
    texts.push_back(text);
  }
  return texts;
}

han::Word2VecOptions small_options() {
  han::Word2VecOptions options;
  options.dimension = 32;
  options.window = 5;
  options.epochs = 5;
  options.min_count = 1;
  options.subsample = 1e-3;
  options.threads = 1;
  return options;
}

}  // namespace

TEST_CASE("encode_texts ranks words by count and drops rare ones", "[word2vec]") {
  const auto encoded = encode({"b a a. c", "a b", "d"}, 2);
  REQUIRE(encoded.words == std::vector<std::string>{"a", "b"});
  REQUIRE(encoded.counts == std::vector<int64_t>{3, 2});
  REQUIRE(encoded.tokens == 8);  // the classifier's tokens: "." counts too
  REQUIRE(encoded.documents() == 3);
  // Documents keep their order; ".", c and d are dropped; the third document is empty.
  REQUIRE(encoded.offsets == std::vector<int64_t>{0, 3, 5, 5});
  REQUIRE(encoded.ids == std::vector<int32_t>{1, 0, 0, 0, 1});
}

TEST_CASE("encode_texts caps the vocabulary and breaks ties in byte order", "[word2vec]") {
  const auto encoded = encode({"z y x x"}, 1, 2);
  REQUIRE(encoded.words == std::vector<std::string>{"x", "y"});
  REQUIRE(encoded.ids == std::vector<int32_t>{1, 0, 0});
}

TEST_CASE("planted co-occurrences come out as nearest neighbours", "[word2vec]") {
  const int groups = 8, group_size = 6;
  const auto encoded = encode(planted_corpus(groups, group_size, 1500, 7));
  const auto vectors = han::train_word2vec(encoded, small_options());
  int correct = 0, total = 0;
  for (int g = 0; g < groups; ++g) {
    for (int w = 0; w < group_size; ++w) {
      const std::string word = fmt::format("g{}w{}", g, w);
      const auto neighbours = vectors.nearest(word, group_size - 1);
      REQUIRE(neighbours.size() == static_cast<size_t>(group_size - 1));
      for (const auto& [neighbour, similarity] : neighbours) {
        ++total;
        if (neighbour.rfind(fmt::format("g{}w", g), 0) == 0) ++correct;
      }
    }
  }
  INFO(correct << " of " << total << " neighbours from the planted group");
  REQUIRE(correct >= total * 95 / 100);
  // Filler words, spread over every group, are not close to a group word.
  const auto filler = vectors.nearest("g0w0", 1);
  REQUIRE(filler.front().first.rfind("g0w", 0) == 0);
  REQUIRE(filler.front().second > 0.5f);
}

TEST_CASE("one thread and a seed give the same vectors; another seed does not", "[word2vec]") {
  const auto encoded = encode(planted_corpus(3, 4, 100, 1));
  auto options = small_options();
  options.epochs = 2;
  const auto first = han::train_word2vec(encoded, options);
  const auto again = han::train_word2vec(encoded, options);
  REQUIRE(first.values == again.values);
  options.seed = 2;
  const auto other = han::train_word2vec(encoded, options);
  REQUIRE(first.values != other.values);
}

TEST_CASE("several threads train, report progress and reach every word", "[word2vec]") {
  const auto encoded = encode(planted_corpus(4, 4, 400, 3));
  auto options = small_options();
  options.threads = 3;
  options.epochs = 2;
  han::Word2VecProgress last;
  int reports = 0;
  const auto vectors = han::train_word2vec(encoded, options, [&](const han::Word2VecProgress& p) {
    REQUIRE(p.words_done <= p.words_total);
    last = p;
    ++reports;
  });
  REQUIRE(reports >= 2);  // at least once per epoch
  REQUIRE(last.epoch == 2);
  REQUIRE(last.words_done == last.words_total);
  REQUIRE(last.words_total == 2 * static_cast<int64_t>(encoded.ids.size()));
  for (float v : vectors.values) REQUIRE(std::isfinite(v));
  REQUIRE(vectors.nearest("g1w1", 1).front().first.rfind("g1w", 0) == 0);
}

TEST_CASE("documents after read_once_from are read once in the whole run, a share an epoch", "[word2vec]") {
  auto texts = planted_corpus(3, 4, 60, 5);
  const int64_t base = static_cast<int64_t>(texts.size());
  for (const auto& extra : planted_corpus(2, 3, 45, 6)) texts.push_back(extra);
  auto encoded = encode(texts);
  encoded.read_once_from = base;
  const auto words = [&](int64_t from, int64_t to) {
    return encoded.offsets[static_cast<size_t>(to)] - encoded.offsets[static_cast<size_t>(from)];
  };
  const int64_t rest = encoded.documents() - base;
  for (const int threads : {1, 3}) {
    auto options = small_options();
    options.epochs = 4;
    options.threads = threads;
    std::vector<int64_t> done_after_epoch(5, -1);
    han::train_word2vec(encoded, options, [&](const han::Word2VecProgress& p) {
      done_after_epoch[static_cast<size_t>(p.epoch)] = p.words_done;
    });
    INFO(threads << " threads");
    int64_t expected = 0;
    for (int epoch = 1; epoch <= 4; ++epoch) {
      // The training documents every epoch, and the epoch's quarter of the others.
      expected += words(0, base) + words(base + rest * (epoch - 1) / 4, base + rest * epoch / 4);
      REQUIRE(done_after_epoch[static_cast<size_t>(epoch)] == expected);
    }
    REQUIRE(expected == 4 * words(0, base) + words(base, encoded.documents()));
  }
  // Without read-once documents the run is the plain one.
  auto options = small_options();
  options.epochs = 2;
  encoded.read_once_from = encoded.documents();
  const auto none_once = han::train_word2vec(encoded, options);
  encoded.read_once_from = -1;
  REQUIRE(han::train_word2vec(encoded, options).values == none_once.values);
}

TEST_CASE("options out of range are usage errors naming the option", "[word2vec]") {
  const auto encoded = encode({"a b c"});
  auto options = small_options();
  options.dimension = 0;
  REQUIRE_THROWS_WITH(han::train_word2vec(encoded, options), Catch::Contains("--dim"));
  options = small_options();
  options.subsample = 1.5;
  REQUIRE_THROWS_AS(han::train_word2vec(encoded, options), han::UsageError);
  options = small_options();
  options.window = 0;
  REQUIRE_THROWS_WITH(han::train_word2vec(encoded, options), Catch::Contains("--window"));
  options = small_options();
  options.min_count = 5;  // no word is that frequent
  REQUIRE_THROWS_AS(han::train_word2vec(encode({"a b c"}, 5), options), han::InputError);
}

TEST_CASE("vectors are written in the word2vec text and binary formats", "[word2vec]") {
  han::WordVectors vectors;
  vectors.dimension = 2;
  vectors.words = {"good", "bad"};
  vectors.values = {0.5f, -1.25f, 3e-7f, 2.0f};
  const fs::path dir = fs::temp_directory_path() / fmt::format("han-w2v-{}", ::getpid());
  fs::create_directories(dir);
  han::save_word_vectors(vectors, (dir / "v.vec").string());
  std::ifstream text(dir / "v.vec");
  std::stringstream content;
  content << text.rdbuf();
  REQUIRE(content.str() == "2 2\ngood 0.5 -1.25\nbad 3e-07 2\n");

  han::save_word_vectors(vectors, (dir / "v.bin").string(), true);
  std::ifstream binary(dir / "v.bin", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(binary)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() == 4 + (5 + 8 + 1) + (4 + 8 + 1));  // "2 2\n", "good " + 8 bytes + "\n", "bad " + …
  float first[2];
  std::memcpy(first, bytes.data() + 4 + 5, sizeof first);
  REQUIRE(first[0] == 0.5f);
  REQUIRE(first[1] == -1.25f);

  REQUIRE_THROWS_AS(han::save_word_vectors(vectors, (dir / "missing" / "v.vec").string()), han::InputError);
  fs::remove_all(dir);
}

TEST_CASE("nearest is empty for unknown words and sorted by similarity", "[word2vec]") {
  han::WordVectors vectors;
  vectors.dimension = 2;
  vectors.words = {"x", "near", "far", "opposite"};
  vectors.values = {1, 0, 0.9f, 0.1f, 0.1f, 1, -1, 0};
  REQUIRE(vectors.nearest("missing", 3).empty());
  const auto result = vectors.nearest("x", 3);
  REQUIRE(result.size() == 3);
  REQUIRE(result[0].first == "near");
  REQUIRE(result[1].first == "far");
  REQUIRE(result[2].first == "opposite");
  REQUIRE(result[2].second == Approx(-1.0f));
}
