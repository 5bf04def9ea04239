// Vocabulary, labels and configuration.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

#include "han/base/error.h"
#include "han/data/config.h"
#include "han/data/synthetic.h"
#include "han/data/vocab.h"

using namespace han;

namespace {

// Sentences of the synthetic corpus end in '.' or '!' followed by a space or the end.
std::vector<std::string> split_sentences(const std::string& text) {
  std::vector<std::string> sentences(1);
  for (size_t i = 0; i < text.size(); ++i) {
    sentences.back() += text[i];
    if ((text[i] == '.' || text[i] == '!') && i + 1 < text.size() && text[i + 1] == ' ') {
      sentences.emplace_back();
      ++i;
    }
  }
  return sentences;
}

// Lower-cased words without punctuation.
std::vector<std::string> split_words(const std::string& sentence) {
  std::vector<std::string> words;
  std::istringstream in(sentence);
  for (std::string w; in >> w;) {
    std::string word;
    for (char ch : w)
      if (std::isalpha(static_cast<unsigned char>(ch))) word += static_cast<char>(std::tolower(ch));
    if (!word.empty()) words.push_back(word);
  }
  return words;
}

}  // namespace

TEST_CASE("the vocabulary keeps frequent words, reserves PAD and UNK, and caps its size") {
  WordCounter counter;
  counter.add("the", 10);
  counter.add("film", 6);
  counter.add("good", 6);
  counter.add("rare", 5);
  counter.add("<unk>", 50);  // a literal "<unk>" in the text must not take a second id
  Vocabulary v = Vocabulary::build(counter, 6, 100);
  REQUIRE(v.size() == 5);
  CHECK(v.word(Vocabulary::kPad) == "<pad>");
  CHECK(v.word(Vocabulary::kUnk) == "<unk>");
  CHECK(v.word(2) == "the");
  CHECK(v.word(3) == "film");  // ties in byte order
  CHECK(v.word(4) == "good");
  CHECK(v.id("rare") == Vocabulary::kUnk);
  CHECK(v.id("never seen") == Vocabulary::kUnk);
  CHECK(Vocabulary::build(counter, 1, 4).size() == 4);
  CHECK(Vocabulary::build(counter, 1, 4).word(3) == "film");
}

TEST_CASE("a vocabulary must start with PAD and UNK and hold no duplicates") {
  CHECK_THROWS_AS(Vocabulary({"a", "<unk>"}), InputError);
  CHECK_THROWS_AS(Vocabulary({"<pad>", "<unk>", "a", "a"}), InputError);
}

TEST_CASE("labels get stable ids: numeric order for integers, byte order otherwise") {
  LabelSet numeric = LabelSet::build({"10", "2", "1", "2"});
  CHECK(numeric.names() == std::vector<std::string>{"1", "2", "10"});
  CHECK(numeric.id("10") == 2);
  LabelSet words = LabelSet::build({"pos", "neg", "Neutral"});
  CHECK(words.names() == std::vector<std::string>{"Neutral", "neg", "pos"});
  CHECK(words.id("missing") == -1);
}

TEST_CASE("configuration round-trips through JSON and rejects unknown keys and wrong types") {
  Config c;
  c.model.dropout = 0.25;
  c.train.optimizer = "adam";
  c.text.max_words = 7;
  Config back = config_from_json(to_json(c));
  CHECK(to_json(back) == to_json(c));
  CHECK_THROWS_WITH(config_from_json({{"train", {{"learning_rte", 0.1}}}}),
                    Catch::Contains("unknown key train.learning_rte") && Catch::Contains("learning_rate"));
  CHECK_THROWS_WITH(config_from_json({{"train", {{"epochs", "ten"}}}}),
                    Catch::Contains("train.epochs must be an integer"));
  CHECK_THROWS_AS(config_from_json({{"nonsense", 1}}), InputError);
}

TEST_CASE("--set overrides any key, and validation catches impossible values") {
  Config c = apply_override(Config{}, "train.learning_rate=0.01");
  CHECK(c.train.learning_rate == Approx(0.01));
  c = apply_override(c, "train.optimizer=adam");
  CHECK(c.train.optimizer == "adam");
  c = apply_override(c, "text.lowercase=false");
  CHECK_FALSE(c.text.lowercase);
  CHECK_FALSE(c.text.join_lines);  // off unless asked: files written before the key existed read the same
  c = apply_override(c, "text.join_lines=true");
  CHECK(c.text.join_lines);
  CHECK_THROWS_AS(apply_override(c, "text.join_lines=sometimes"), UsageError);
  CHECK_THROWS_AS(apply_override(c, "learning_rate=1"), UsageError);
  CHECK_THROWS_AS(apply_override(c, "train.nope=1"), UsageError);
  Config bad;
  bad.train.optimizer = "rmsprop";
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("sgd, adam or lazy_adam"));
  bad = Config{};
  bad.model.dropout = 1.5;
  CHECK_THROWS_AS(validate(bad), UsageError);
  c = apply_override(Config{}, "train.word_dropout=0.1");
  CHECK(c.train.word_dropout == Approx(0.1));
  bad = Config{};
  bad.train.word_dropout = 1.0;  // every word UNK: nothing left to learn from
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("train.word_dropout must be in [0, 1)"));
  c = apply_override(Config{}, "train.sentence_dropout=0.2");
  CHECK(c.train.sentence_dropout == Approx(0.2));
  bad = Config{};
  bad.train.sentence_dropout = -0.1;
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("train.sentence_dropout must be in [0, 1)"));
  CHECK_NOTHROW(validate(Config{}));
}

TEST_CASE("every setting is written, read back and range-checked from one table") {
  const nlohmann::json defaults = to_json(Config{});
  // The sections and a count of their keys: a setting missing from the table fails here.
  CHECK(defaults.size() == 3);
  CHECK(defaults["text"].size() == 6);
  CHECK(defaults["model"].size() == 8);
  CHECK(defaults["train"].size() == 27);
  CHECK(defaults["train"]["seed"] == 1);
  CHECK(defaults["text"]["max_bytes"] == 1 << 20);
  // Each key reads back into its own field: change every one, then round-trip.
  Config c;
  c.text.max_sentences = 3;
  c.text.locale = "zh";
  c.model.sentence_attention = 9;
  c.train.seed = 1234567890123ULL;
  c.train.embeddings = "v.vec";
  c.train.freeze_embeddings = true;
  c.train.pretrain_epochs = 7;
  c.train.max_steps = 20000;
  c.train.refit = "auto";
  c.train.unlabeled = "unsup/";
  c.train.engine = Engine::kReference;
  const Config back = config_from_json(to_json(c));
  CHECK(back.text.max_sentences == 3);
  CHECK(back.text.locale == "zh");
  CHECK(back.model.sentence_attention == 9);
  CHECK(back.train.seed == 1234567890123ULL);
  CHECK(back.train.freeze_embeddings);
  CHECK(back.train.pretrain_epochs == 7);
  CHECK(back.train.max_steps == 20000);
  CHECK(back.train.refit == "auto");
  CHECK(back.train.unlabeled == "unsup/");
  CHECK(back.train.engine == Engine::kReference);
  CHECK(to_json(c)["train"]["engine"] == "reference");
  CHECK(to_json(back) == to_json(c));
  // The engine is one of two names, in files and in --set alike.
  CHECK(apply_override(Config{}, "train.engine=reference").train.engine == Engine::kReference);
  CHECK_THROWS_WITH(apply_override(Config{}, "train.engine=fast"),
                    Catch::Contains("train.engine must be fused or reference, found 'fast'"));
  CHECK_THROWS_AS(config_from_json(nlohmann::json::parse(R"({"train": {"engine": 1}})")), InputError);
  // Range messages name the key and the range.
  Config bad;
  bad.model.word_hidden = 0;
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("model.word_hidden must be at least 1"));
  bad = Config{};
  bad.train.learning_rate = 0;
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("train.learning_rate must be positive"));
  bad = Config{};
  bad.train.threads = -1;
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("train.threads must not be negative"));
  bad = Config{};
  bad.train.max_steps = -1;
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("train.max_steps must not be negative"));
  bad = Config{};
  bad.train.max_vocab = 2;
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("train.max_vocab must be at least 3 (PAD, UNK and one word)"));
  bad = Config{};
  bad.text.max_bytes = -1;
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("text.max_bytes must be 0 (no cap) or more"));
  bad = Config{};
  bad.train.embeddings_format = "fasttext";
  CHECK_THROWS_WITH(
      validate(bad),
      Catch::Contains("train.embeddings_format must be auto, word2vec, word2vec-binary or glove, found 'fasttext'"));
  bad = Config{};
  bad.train.average = 1;
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("train.average must be in [0, 1)"));
  bad = Config{};
  bad.model.pooling = "sum";
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("model.pooling must be attention, mean or max, found 'sum'"));
}

TEST_CASE("the paper's configuration file matches the paper's sizes") {
  Config c = load_config(HAN_SOURCE_DIR "/configs/han-paper.json");
  CHECK(c.model.embedding_dim == 200);
  CHECK(c.model.word_hidden == 50);
  CHECK(c.model.sentence_hidden == 50);
  CHECK(c.model.word_attention == 100);
  CHECK(c.train.optimizer == "sgd");
  CHECK(c.train.momentum == Approx(0.9));
  CHECK(c.train.batch_size == 64);
  CHECK(c.train.min_count == 6);
}

TEST_CASE("the 20 Newsgroups recipe overrides only what it names") {
  Config c = load_config(HAN_SOURCE_DIR "/configs/20news.json");
  CHECK(c.text.max_sentences == 256);
  CHECK(c.model.word_hidden == 100);
  CHECK(c.model.sentence_hidden == 100);
  CHECK(c.model.dropout == Approx(0.5));
  CHECK(c.train.word_dropout == Approx(0.6));
  CHECK(c.train.sentence_dropout == Approx(0.3));
  CHECK(c.train.average == Approx(0.998));
  CHECK(c.train.patience == 4);
  CHECK(c.train.freeze_embeddings);
  // Everything else keeps its default.
  const Config defaults;
  CHECK(c.model.embedding_dim == defaults.model.embedding_dim);
  CHECK(c.train.optimizer == defaults.train.optimizer);
  CHECK(c.train.learning_rate == Approx(defaults.train.learning_rate));
  CHECK(c.train.min_count == defaults.train.min_count);
  CHECK(c.text.join_lines == defaults.text.join_lines);
  // Frozen vectors must come from somewhere: --embeddings or pretraining.
  CHECK_THROWS_WITH(validate(c), Catch::Contains("train.freeze_embeddings needs train.embeddings"));
  CHECK_NOTHROW(validate_values(c));  // each value alone is fine
  c.train.pretrain_epochs = 5;
  CHECK_NOTHROW(validate(c));
  c.train.pretrain_epochs = 0;
  c.train.embeddings = "20news.vec";
  CHECK_NOTHROW(validate(c));
  // Unlabeled text is for pretraining: not beside given vectors, not without passes.
  c.train.unlabeled = "unsup/";
  CHECK_THROWS_WITH(validate(c), Catch::Contains("train.embeddings gives them: drop one"));
  c.train.embeddings.clear();
  c.train.freeze_embeddings = false;
  CHECK_THROWS_WITH(validate(c), Catch::Contains("train.pretrain_epochs is 0"));
  c.train.pretrain_epochs = 2;
  CHECK_NOTHROW(validate(c));
}

TEST_CASE("the synthetic corpus is deterministic, cycles through its genres and marks each cue") {
  auto a = make_synthetic_corpus(600, 3);
  auto b = make_synthetic_corpus(600, 3);
  auto c = make_synthetic_corpus(600, 4);
  REQUIRE(a.size() == 600);
  CHECK(a[17].document.text == b[17].document.text);
  CHECK(a[17].document.text != c[17].document.text);
  std::map<std::string, std::set<std::string>> openings;  // per genre: the first two words of its cue sentences
  std::set<std::string> cue_words, neutral_words;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& d = a[i];
    CHECK(d.document.label == synthetic_labels()[i % 3]);
    const auto sentences = split_sentences(d.document.text);
    REQUIRE(d.cue_sentence < static_cast<int>(sentences.size()));
    for (size_t s = 0; s < sentences.size(); ++s) {
      const auto words = split_words(sentences[s]);
      if (static_cast<int>(s) != d.cue_sentence) {
        neutral_words.insert(words.begin(), words.end());
        continue;
      }
      CHECK(words.size() >= 6);
      CHECK(std::count(words.begin(), words.end(), d.cue_word) == 1);
      openings[d.document.label].insert(words[0] + " " + words[1]);
      cue_words.insert(d.cue_word);
    }
  }
  for (const auto& [label, set] : openings) CHECK(set.size() >= 10);  // 10 templates or more per genre
  CHECK(cue_words.size() >= 15);
  for (const auto& w : cue_words) CHECK(neutral_words.count(w) == 1);  // must read the sentence, not spot the word
}
