#include "han/train/recipe.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

namespace han {

namespace {

CorpusProfile profile_of(const std::map<std::string, int64_t>& per_label, int64_t documents, WordEstimate words) {
  CorpusProfile profile;
  profile.documents = documents;
  profile.tokens = words.tokens;
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
  profile.cjk_share = words.tokens ? static_cast<double>(words.cjk) / static_cast<double>(words.tokens) : 0;
  return profile;
}

}  // namespace

CorpusProfile profile_corpus(const Corpus& corpus) {
  std::map<std::string, int64_t> per_label;
  WordEstimate words;
  int64_t documents = 0;
  for (const Document& d : corpus.documents) {
    if (d.label.empty()) continue;
    ++per_label[d.label];
    ++documents;
    const WordEstimate count = estimate_words(d.text);
    words.tokens += count.tokens;
    words.cjk += count.cjk;
  }
  return profile_of(per_label, documents, words);
}

CorpusProfile profile_corpus(const TokenizedCorpus& corpus) {
  std::map<std::string, int64_t> per_label;
  int64_t documents = 0;
  std::vector<int64_t> per_index(corpus.labels.size(), 0);
  for_each_outline(corpus, [&](const DocumentOutline& d) {
    if (d.label < 0) return;
    ++per_index[static_cast<size_t>(d.label)];
    ++documents;
  });
  for (size_t k = 0; k < per_index.size(); ++k) {
    if (per_index[k] > 0) per_label[corpus.labels[k]] += per_index[k];
  }
  return profile_of(per_label, documents, corpus.words);
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
    recipe.choose("train.batch_size", train.batch_size, 16,
                  fmt::format("{:.2g} M tokens (under {:.0f} M): batches of 16, four times the steps an epoch",
                              tokens / 1e6, kSmallCorpusTokens / 1e6));
  }
  if (train.embeddings.empty()) {
    const int passes = std::clamp(static_cast<int>(std::lround(kPretrainTokenPasses / tokens)), 3, 20);
    recipe.choose(
        "train.pretrain_epochs", train.pretrain_epochs, passes,
        fmt::format("no --embeddings: word vectors pretrained on the training text, {} passes over "
                    "{:.2g} M tokens{}",
                    passes, tokens / 1e6, train.unlabeled.empty() ? "" : ", and once over the unlabeled text"));
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
  recipe.choose("train.refit", train.refit, std::string("auto"),
                "after early stopping, a fresh model is trained on all the training data (the held-out share too) "
                "for the epochs that scored best, when that reads at most 80 M tokens");
  recipe.choose("train.patience", train.patience, 4,
                "stop after 4 epochs without a better validation score: one noisy epoch does not end the run");
  return recipe.take();
}

}  // namespace han
