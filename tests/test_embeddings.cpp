// Pretrained word vectors: each format, gzipped files, matching rules and errors.
#include "torch_catch.h"

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "han/base/error.h"
#include "han/data/synthetic.h"
#include "han/embed/word2vec.h"
#include "han/model/embeddings.h"
#include "han/train/train.h"

using namespace han;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("han-vectors-test-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& bytes, bool gzip = false) const {
    const std::string file = (path / name).string();
    if (gzip) {
      gzFile out = gzopen(file.c_str(), "wb");
      gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size()));
      gzclose(out);
    } else {
      std::ofstream(file, std::ios::binary) << bytes;
    }
    return file;
  }
};

const Vocabulary kVocabulary({"<pad>", "<unk>", "good", "film", "paris", "boring"});

torch::Tensor fresh_weight() { return torch::full({kVocabulary.size(), 3}, 9.0f); }

std::string binary_vectors() {
  std::string bytes = "3 3\n";
  auto add = [&](const std::string& word, std::vector<float> v) {
    bytes += word + " ";
    bytes.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
    bytes += "\n";
  };
  add("good", {0.5f, -1.25f, 3.0f});
  add("Paris", {1, 2, 3});
  add("zebra", {7, 7, 7});
  return bytes;
}

}  // namespace

TEST_CASE("word2vec text, GloVe and word2vec binary vectors load, plain and gzipped") {
  TempDir dir;
  const std::string text = "3 3\ngood 0.5 -1.25 3\nParis 1 2 3\nzebra 7 7 7\n";
  const std::string glove = "good 0.5 -1.25 3\nParis 1 2 3\nzebra 7 7 7\n";
  struct Case {
    std::string name, bytes;
    VectorFormat expected;
  };
  for (const auto& c : {Case{"v.txt", text, VectorFormat::Word2VecText}, Case{"g.txt", glove, VectorFormat::GloveText},
                        Case{"v.bin", binary_vectors(), VectorFormat::Word2VecBinary}}) {
    for (bool gzip : {false, true}) {
      INFO(c.name << (gzip ? ".gz" : ""));
      const std::string path = dir.write(c.name + (gzip ? ".gz" : ""), c.bytes, gzip);
      torch::Tensor weight = fresh_weight();
      EmbeddingLoadReport report = load_embeddings(path, kVocabulary, weight, true);
      CHECK(report.format == c.expected);
      CHECK(report.vectors_in_file == 3);
      CHECK(report.vocabulary_words == 4);
      CHECK(report.found == 2);  // good, and Paris as paris
      CHECK(report.found_lowercased == 1);
      CHECK(torch::equal(weight[2], torch::tensor({0.5f, -1.25f, 3.0f})));
      CHECK(torch::equal(weight[4], torch::tensor({1.0f, 2.0f, 3.0f})));
      CHECK(torch::equal(weight[3], torch::full({3}, 9.0f)));  // film: not in the file, left as it was
      CHECK(torch::equal(weight[0], torch::full({3}, 9.0f)));  // PAD untouched
    }
  }
}

TEST_CASE("binary vectors whose bytes hold a line break after a few printable ones are still binary") {
  // The first float's bytes are 'a' 'b' '\n' '?': its "line" looks like two
  // printable bytes of text, as han embed's random vectors sometimes gave.
  std::string bytes = "2 3\n";
  auto add = [&](const std::string& word, std::vector<float> v) {
    bytes += word + " ";
    bytes.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
    bytes += "\n";
  };
  float tricky = 0;
  std::memcpy(&tricky, "ab\n?", sizeof tricky);
  add("good", {tricky, -1.0f, 2.0f});
  add("film", {0.25f, 0.5f, 0.75f});
  TempDir dir;
  torch::Tensor weight = fresh_weight();
  const EmbeddingLoadReport report = load_embeddings(dir.write("tricky.bin", bytes), kVocabulary, weight, true);
  CHECK(report.format == VectorFormat::Word2VecBinary);
  CHECK(report.found == 2);
  CHECK(torch::equal(weight[2], torch::tensor({tricky, -1.0f, 2.0f})));
  CHECK(torch::equal(weight[3], torch::tensor({0.25f, 0.5f, 0.75f})));
}

TEST_CASE("an exact match wins over a lower-cased one, and lower-casing can be off") {
  TempDir dir;
  const std::string path = dir.write("g.txt", "Good 1 1 1\ngood 2 2 2\nGOOD 3 3 3\n");
  torch::Tensor weight = fresh_weight();
  load_embeddings(path, kVocabulary, weight, true);
  CHECK(torch::equal(weight[2], torch::full({3}, 2.0f)));
  torch::Tensor cased = fresh_weight();
  EmbeddingLoadReport report = load_embeddings(dir.write("c.txt", "Good 1 1 1\n"), kVocabulary, cased, false);
  CHECK(report.found == 0);
}

TEST_CASE("a word holding spaces keeps them (the last fields are the values)") {
  TempDir dir;
  const Vocabulary vocabulary({"<pad>", "<unk>", "new york"});
  torch::Tensor weight = torch::zeros({3, 2});
  load_embeddings(dir.write("g.txt", "new york 4 5\n"), vocabulary, weight, false);
  CHECK(torch::equal(weight[2], torch::tensor({4.0f, 5.0f})));
}

TEST_CASE("vector files that do not fit give errors naming the file and line") {
  TempDir dir;
  torch::Tensor weight = fresh_weight();
  auto error = [&](const std::string& name, const std::string& bytes) {
    const std::string path = dir.write(name, bytes);
    try {
      load_embeddings(path, kVocabulary, weight, true);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error("dim.txt", "2 4\ngood 1 2 3 4\n"),
             Catch::Contains("dim.txt: vectors have dimension 4, but model.embedding_dim is 3"));
  CHECK_THAT(error("gdim.txt", "good 1 2 3 4\n"), Catch::Contains("dimension 4"));
  CHECK_THAT(error("short.txt", "2 3\ngood 1 2 3\nfilm 1 2\n"),
             Catch::Contains("short.txt:3: expected a word and 3 values, found 3 fields"));
  CHECK_THAT(error("nan.txt", "good 1 2 3\nfilm 1 x 3\n"), Catch::Contains("nan.txt:2: value 2 is not a number: 'x'"));
  CHECK_THAT(error("empty.txt", ""), Catch::Contains("empty.txt: empty vector file"));
  // Not finite, or not a decimal number: an error, whether the format is guessed or given.
  CHECK_THAT(error("inf.txt", "good 1 2 3\nfilm 1 inf 3\n"),
             Catch::Contains("inf.txt:2: value 2 is not finite: 'inf'"));
  CHECK_THAT(error("nan.vec", "2 3\ngood nan 2 3\nfilm 1 2 3\n"), Catch::Contains("nan.vec:2: value 1 is not finite"));
  CHECK_THAT(error("hex.vec", "2 3\ngood 0x1p3 2 3\nfilm 1 2 3\n"),
             Catch::Contains("hex.vec:2: value 1 is not a number: '0x1p3'"));
  std::string nan_binary = binary_vectors();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  nan_binary.replace(nan_binary.find("Paris ") + 6, sizeof(float), reinterpret_cast<const char*>(&nan), sizeof(float));
  CHECK_THAT(error("nan.bin", nan_binary),
             Catch::Contains("nan.bin: vector 2 ('Paris') holds a value that is not finite"));
  std::string truncated = binary_vectors();
  truncated.resize(truncated.size() - 7);
  CHECK_THAT(error("cut.bin", truncated), Catch::Contains("truncated after 2 of the 3 vectors"));
  CHECK_THROWS_WITH(load_embeddings((dir.path / "missing.vec").string(), kVocabulary, weight, true),
                    Catch::Contains("missing.vec: cannot open"));
  CHECK_THROWS_AS(parse_vector_format("fasttext"), UsageError);
}

TEST_CASE("training starts from the vectors and fine-tunes them, or keeps them frozen") {
  TempDir dir;
  auto docs = make_synthetic_corpus(120, 9);
  Corpus corpus;
  corpus.path = "synthetic";
  for (const auto& d : docs) corpus.documents.push_back(d.document);
  const std::string path = dir.write("v.txt", "hilarious 1 1 1 1\ncreepy -1 -1 -1 -1\nunseen 5 5 5 5\n");

  Config config;
  config.model.embedding_dim = 4;
  config.model.word_hidden = 3;
  config.model.sentence_hidden = 3;
  config.model.word_attention = 3;
  config.model.sentence_attention = 3;
  config.train.epochs = 1;
  config.train.min_count = 1;
  config.train.threads = 1;
  config.train.valid_fraction = 0;
  config.train.embeddings = path;

  TrainingReport report;
  Model tuned = train_model(corpus, nullptr, config, {}, &report);
  CHECK(report.embeddings.found == 2);
  const int32_t hilarious = tuned.vocabulary.id("hilarious");
  REQUIRE(hilarious > Vocabulary::kUnk);
  auto tuned_row = tuned.network->word_embedding()->weight[hilarious];
  CHECK_FALSE(torch::equal(tuned_row, torch::ones({4})));       // fine-tuned away from the start
  CHECK(torch::allclose(tuned_row, torch::ones({4}), 0, 0.1));  // but started there

  config.train.freeze_embeddings = true;
  Model frozen = train_model(corpus, nullptr, config);
  CHECK(torch::equal(frozen.network->word_embedding()->weight[hilarious], torch::ones({4})));
  CHECK(torch::equal(frozen.network->word_embedding()->weight[frozen.vocabulary.id("creepy")], -torch::ones({4})));
}

TEST_CASE("vectors written by han embed load back, text to 6 digits and binary exactly") {
  TempDir dir;
  WordVectors vectors;
  vectors.dimension = 3;
  vectors.words = {"good", "film", "unrelated"};
  vectors.values = {0.123456789f, -2.5f, 1e-8f, 4, 5, 6, 7, 8, 9};
  for (const bool binary : {false, true}) {
    const std::string path = (dir.path / (binary ? "v.bin" : "v.vec")).string();
    save_word_vectors(vectors, path, binary);
    torch::Tensor weight = fresh_weight();
    const auto report = load_embeddings(path, kVocabulary, weight, true);
    CHECK(report.format == (binary ? VectorFormat::Word2VecBinary : VectorFormat::Word2VecText));
    CHECK(report.vectors_in_file == 3);
    CHECK(report.found == 2);
    const float tolerance = binary ? 0.0f : 1e-6f;
    CHECK(std::abs(weight[2][0].item<float>() - 0.123456789f) <= tolerance);
    CHECK(weight[2][1].item<float>() == -2.5f);
    CHECK(weight[3][2].item<float>() == 6.0f);
    CHECK(weight[4][0].item<float>() == 9.0f);  // "paris" is not in the file
  }
}
