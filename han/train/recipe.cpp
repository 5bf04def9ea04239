#include "han/train/recipe.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

namespace han {

namespace {

// The next code point of valid UTF-8 (readers repair the text before this).
char32_t next_code_point(std::string_view text, size_t& at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  int length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  length = static_cast<int>(std::min<size_t>(static_cast<size_t>(length), text.size() - at));
  char32_t c = length == 1 ? lead : lead & (0x3F >> (length - 1));
  for (int i = 1; i < length; ++i) c = (c << 6) | (byte(at + static_cast<size_t>(i)) & 0x3F);
  at += static_cast<size_t>(length);
  return c;
}

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0x3040 && c <= 0x30FF) || (c >= 0x20000 && c <= 0x2FA1F);
}

// Letters and digits of any script, roughly: ASCII alphanumerics and every
// code point above ASCII outside the punctuation and symbol blocks.
bool is_word_character(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (c >= 0x2000 && c <= 0x2BFF) return false;  // punctuation, symbols, arrows, dingbats
  if (c >= 0x3000 && c <= 0x303F) return false;  // CJK punctuation
  if (c >= 0xFF00 && c <= 0xFF0F) return false;  // full-width punctuation
  return c != 0xA0 && c != 0xFEFF && c != 0xFFFD;
}

struct TokenCount {
  int64_t tokens = 0;
  int64_t cjk = 0;
};

TokenCount count_tokens(std::string_view text) {
  TokenCount count;
  bool in_word = false;
  for (size_t at = 0; at < text.size();) {
    const char32_t c = next_code_point(text, at);
    if (is_cjk(c)) {
      ++count.tokens;
      ++count.cjk;
      in_word = false;
    } else if (is_word_character(c)) {
      if (!in_word) ++count.tokens;
      in_word = true;
    } else {
      in_word = false;
    }
  }
  return count;
}

}  // namespace

CorpusProfile profile_corpus(const Corpus& corpus) {
  CorpusProfile profile;
  std::map<std::string, int64_t> per_label;
  int64_t cjk = 0;
  for (const Document& d : corpus.documents) {
    if (d.label.empty()) continue;
    ++per_label[d.label];
    ++profile.documents;
    const TokenCount count = count_tokens(d.text);
    profile.tokens += count.tokens;
    cjk += count.cjk;
  }
  profile.classes = static_cast<int64_t>(per_label.size());
  if (profile.documents > 0) {
    int64_t smallest = profile.documents, largest = 0;
    for (const auto& [label, n] : per_label) {
      smallest = std::min(smallest, n);
      largest = std::max(largest, n);
    }
    profile.smallest_class_documents = smallest;
    profile.smallest_class = static_cast<double>(smallest) / static_cast<double>(profile.documents);
    profile.largest_class = static_cast<double>(largest) / static_cast<double>(profile.documents);
  }
  profile.cjk_share = profile.tokens ? static_cast<double>(cjk) / static_cast<double>(profile.tokens) : 0;
  return profile;
}

nlohmann::json to_json(const CorpusProfile& p) {
  return {{"documents", p.documents},
          {"classes", p.classes},
          {"smallest_class", p.smallest_class},
          {"largest_class", p.largest_class},
          {"smallest_class_documents", p.smallest_class_documents},
          {"tokens", p.tokens},
          {"cjk_share", p.cjk_share}};
}

nlohmann::json to_json(const RecipeChoice& choice) {
  return {{"key", choice.key}, {"value", choice.value}, {"reason", choice.reason}};
}

namespace {

// Word-vector passes: about kPretrainTokenPasses tokens read in all, so small
// corpora get more epochs and large ones stay within the time budget.
constexpr double kPretrainTokenPasses = 30e6;
// Below this many tokens a corpus is "small": rare words are kept.
constexpr int64_t kSmallCorpusTokens = 3'000'000;
// Below this many tokens the pretrained vectors are fine-tuned, not frozen.
constexpr int64_t kFrozenVectorsTokens = 1'000'000;
// The largest class this many times the smallest: accuracy would reward a
// model that never predicts the small classes.
constexpr double kUnbalancedRatio = 5;
// A class this much smaller than the largest, with fewer documents than
// kRareClassDocuments, is rarely predicted at all unless the loss weighs it
// up. Learnable small classes (TREC's 86 abbreviation questions) lose from
// the weights: the validation accuracy fell 2-3 points there.
constexpr double kRareClassRatio = 10;
constexpr int64_t kRareClassDocuments = 50;

class RecipeBuilder {
 public:
  explicit RecipeBuilder(const std::set<std::string>& fixed) : fixed_(fixed) {}

  // Sets `field` to `value` unless the user fixed `key` or it already has that value.
  template <typename T>
  void choose(const std::string& key, T& field, const T& value, std::string reason) {
    if (fixed_.count(key) || field == value) return;
    field = value;
    choices_.push_back({key, nlohmann::json(value), std::move(reason)});
  }
  std::vector<RecipeChoice> take() { return std::move(choices_); }

 private:
  const std::set<std::string>& fixed_;
  std::vector<RecipeChoice> choices_;
};

}  // namespace

std::vector<RecipeChoice> choose_recipe(const CorpusProfile& profile, const std::set<std::string>& fixed,
                                        Config& config) {
  RecipeBuilder recipe(fixed);
  TrainConfig& train = config.train;
  const auto tokens = static_cast<double>(std::max<int64_t>(profile.tokens, 1));
  const bool small = profile.tokens < kSmallCorpusTokens;

  if (small) {
    recipe.choose("train.min_count", train.min_count, 2,
                  fmt::format("{:.2g} M tokens (under {:.0f} M): words seen twice get their own vector", tokens / 1e6,
                              kSmallCorpusTokens / 1e6));
  }
  if (train.embeddings.empty()) {
    const int passes = std::clamp(static_cast<int>(std::lround(kPretrainTokenPasses / tokens)), 3, 20);
    recipe.choose("train.pretrain_epochs", train.pretrain_epochs, passes,
                  fmt::format("no --embeddings: word vectors pretrained on the training text, {} passes over "
                              "{:.2g} M tokens",
                              passes, tokens / 1e6));
    if (train.pretrain_epochs > 0 && profile.tokens >= kFrozenVectorsTokens) {
      recipe.choose("train.freeze_embeddings", train.freeze_embeddings, true,
                    fmt::format("{:.2g} M tokens give trustworthy vectors; frozen, they keep the classifier from "
                                "memorising the training words",
                                tokens / 1e6));
    }
  }
  recipe.choose("model.dropout", config.model.dropout, 0.3, "dropout on sentence and document vectors");
  recipe.choose("train.average", train.average, 0.998,
                "validate and keep a moving average of the weights (decay 0.998): steadier than the last step's");
  recipe.choose("train.epochs", train.epochs, 40, "up to 40 epochs: early stopping ends the run");
  if (profile.classes >= 2 && profile.smallest_class > 0 &&
      profile.largest_class >= kUnbalancedRatio * profile.smallest_class) {
    recipe.choose("train.select_by", train.select_by, std::string("macro_f1"),
                  fmt::format("unbalanced classes (the largest {:.0f} times the smallest): the epoch kept is the one "
                              "with the best validation macro-F1, so small classes count",
                              profile.largest_class / profile.smallest_class));
  }
  const int64_t smallest_documents = profile.smallest_class_documents;
  if (profile.classes >= 2 && smallest_documents > 0 && smallest_documents < kRareClassDocuments &&
      profile.largest_class >= kRareClassRatio * profile.smallest_class) {
    recipe.choose("train.class_weights", train.class_weights, std::string("balanced"),
                  fmt::format("the smallest class has {} documents, 1/{:.0f} of the largest: balanced class "
                              "weights give each class the same share of the loss, so the small ones get predicted",
                              smallest_documents, profile.largest_class / profile.smallest_class));
  }
  recipe.choose("train.patience", train.patience, 4,
                "stop after 4 epochs without a better validation score: one noisy epoch does not end the run");
  return recipe.take();
}

}  // namespace han
