#include "han/infer/explain.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace han {

nlohmann::json explanation_to_json(const Explanation& e, const Document& document, const LabelSet& labels) {
  using nlohmann::json;
  json probabilities = json::object();
  for (int64_t i = 0; i < labels.size(); ++i) {
    probabilities[labels.name(i)] = e.prediction.probabilities[static_cast<size_t>(i)];
  }
  json sentences = json::array();
  for (size_t s = 0; s < e.tokens.sentences.size(); ++s) {
    const Sentence& sentence = e.tokens.sentences[s];
    const float sentence_weight = e.sentence_weights[s];
    json words = json::array();
    for (size_t w = 0; w < sentence.words.size(); ++w) {
      const Token& token = sentence.words[w];
      const float word_weight = e.word_weights[s][w];
      nlohmann::json word = {{"token", token.text},
                             {"span", {token.span.begin, token.span.end}},
                             {"weight", word_weight},
                             {"score", std::sqrt(sentence_weight) * word_weight}};
      if (s < e.word_ids.size() && w < e.word_ids[s].size()) word["id"] = e.word_ids[s][w];
      words.push_back(std::move(word));
    }
    sentences.push_back({{"index", s},
                         {"text", sentence.text},
                         {"span", {sentence.span.begin, sentence.span.end}},
                         {"weight", sentence_weight},
                         {"words", words}});
  }
  json out = {{"schema_version", kExplanationSchemaVersion},
              {"source", document.origin},
              {"label", labels.name(e.prediction.label)},
              {"confidence", e.prediction.probabilities[static_cast<size_t>(e.prediction.label)]},
              {"probabilities", probabilities},
              {"sentences", sentences},
              {"truncated",
               {{"sentences", e.tokens.sentences_cut}, {"words", e.tokens.words_cut}, {"bytes", e.tokens.bytes_cut}}},
              {"length", e.tokens.length},
              {"pooling", e.pooling}};
  // The prediction schema's list too, every label best first: one shape for
  // programs that read classify's, serve's and explain's output.
  const json prediction = prediction_to_json(e.prediction, labels, static_cast<int>(labels.size()), 0.0f);
  out["labels"] = prediction["labels"];
  if (prediction.contains("empty")) out["empty"] = true;
  if (e.prediction.multi_label) {
    // The labels over their thresholds; the attention is the one document
    // vector's, shared by every label.
    out["multi_label"] = true;
    out["predicted"] = prediction_to_json(e.prediction, labels, 0, 0.0f)["labels"];
  }
  if (!document.label.empty() && e.prediction.multi_label) {
    // Label sets: right when the predicted set is the gold one.
    const std::vector<std::string> gold = labels_of(document);
    std::set<std::string> predicted;  // an empty document gets none
    if (!e.prediction.empty)
      for (const int64_t label : e.prediction.chosen) predicted.insert(labels.name(label));
    out["gold"] = gold;
    out["correct"] = predicted == std::set<std::string>(gold.begin(), gold.end());
  } else if (!document.label.empty()) {
    out["gold"] = document.label;
    out["correct"] = document.label == labels.name(e.prediction.label);
  }
  return out;
}

std::vector<std::pair<std::string, float>> top_labels(const Prediction& prediction, const LabelSet& labels, int k,
                                                      float threshold) {
  std::vector<size_t> order(prediction.probabilities.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return prediction.probabilities[a] > prediction.probabilities[b]; });
  std::vector<std::pair<std::string, float>> out;
  // A multi-label model with k < 1 and no threshold given: the labels over
  // the model's own thresholds.
  if (prediction.multi_label && k < 1 && threshold <= 0) {
    for (const int64_t label : prediction.chosen) {
      out.emplace_back(labels.name(label), prediction.probabilities[static_cast<size_t>(label)]);
    }
    return out;
  }
  const size_t limit = k < 1 ? order.size() : static_cast<size_t>(k);
  for (size_t i = 0; i < order.size() && out.size() < limit; ++i) {
    const float p = prediction.probabilities[order[i]];
    if (p < threshold) break;
    out.emplace_back(labels.name(static_cast<int64_t>(order[i])), p);
  }
  return out;
}

nlohmann::json prediction_to_json(const Prediction& prediction, const LabelSet& labels, int k, float threshold) {
  nlohmann::json top = nlohmann::json::array();
  // An empty document gets no label: any label would be a guess from nothing.
  if (!prediction.empty) {
    for (const auto& [label, p] : top_labels(prediction, labels, k, threshold)) {
      top.push_back({{"label", label}, {"probability", p}});
    }
  }
  nlohmann::json json{{"labels", top}};
  if (prediction.empty) json["empty"] = true;
  if (prediction.sentences_cut + prediction.words_cut + prediction.bytes_cut > 0) {
    json["truncated"] = {
        {"sentences", prediction.sentences_cut}, {"words", prediction.words_cut}, {"bytes", prediction.bytes_cut}};
  }
  return json;
}

std::string summarize_explanation(const Explanation& e, const LabelSet& labels, int max_words) {
  std::string out = fmt::format("{} ({:.1f}%)", labels.name(e.prediction.label),
                                100 * e.prediction.probabilities[static_cast<size_t>(e.prediction.label)]);
  if (e.prediction.multi_label) {
    std::vector<std::string> chosen;
    for (const auto& [label, p] : top_labels(e.prediction, labels, 0, 0.0f)) {
      chosen.push_back(fmt::format("{} ({:.1f}%)", label, 100 * p));
    }
    out = chosen.empty() ? std::string("no label over its threshold") : fmt::format("{}", fmt::join(chosen, ", "));
  }
  if (e.sentence_weights.empty()) return out + "\n  (empty document)\n";
  out += "\n";
  if (e.pooling == "mean") {
    return out + fmt::format(
                     "  no attention: this model averages (model.pooling = mean), so each of the {} sentences "
                     "and each word in a sentence weighs the same\n",
                     e.sentence_weights.size());
  }
  const bool max_pooled = e.pooling == "max";
  const auto top = static_cast<size_t>(std::max_element(e.sentence_weights.begin(), e.sentence_weights.end()) -
                                       e.sentence_weights.begin());
  const Sentence& sentence = e.tokens.sentences[top];
  const char* drew = max_pooled ? "supplied {:.0f}% of the document vector's features (max pooling, not attention)"
                                : "drew {:.0f}% of the attention";
  out += fmt::format("  sentence {} of {} {}: \"{}\"\n", top + 1, e.sentence_weights.size(),
                     fmt::format(fmt::runtime(drew), 100 * e.sentence_weights[top]), sentence.text);
  std::vector<size_t> order(sentence.words.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return e.word_weights[top][a] > e.word_weights[top][b]; });
  std::vector<std::string> words;
  for (size_t i = 0; i < order.size() && static_cast<int>(i) < max_words; ++i) {
    words.push_back(fmt::format("{} ({:.0f}%)", sentence.words[order[i]].text, 100 * e.word_weights[top][order[i]]));
  }
  out += fmt::format("  its words: {}\n", fmt::join(words, ", "));
  return out;
}

}  // namespace han
