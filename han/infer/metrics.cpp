#include "han/infer/metrics.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace han {

namespace {

// Unweighted (macro) or support-weighted means of the per-class scores.
AveragedScores average_scores(const std::vector<ClassScores>& classes, bool by_support) {
  AveragedScores mean;
  double total = 0;
  for (const ClassScores& c : classes) {
    const double w = by_support ? static_cast<double>(c.support) : 1.0;
    mean.precision += w * c.precision;
    mean.recall += w * c.recall;
    mean.f1 += w * c.f1;
    total += w;
  }
  if (total > 0) {
    mean.precision /= total;
    mean.recall /= total;
    mean.f1 /= total;
  }
  return mean;
}

nlohmann::json to_json(const AveragedScores& s) {
  return {{"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}};
}

}  // namespace

EvaluationReport compute_metrics(const std::vector<int64_t>& gold, const std::vector<int64_t>& predicted,
                                 const std::vector<std::string>& labels) {
  const size_t n = labels.size();
  EvaluationReport report;
  report.documents = static_cast<int64_t>(gold.size());
  report.confusion.assign(n, std::vector<int64_t>(n, 0));
  int64_t correct = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    ++report.confusion[static_cast<size_t>(gold[i])][static_cast<size_t>(predicted[i])];
    correct += gold[i] == predicted[i];
  }
  report.accuracy = gold.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(gold.size());
  for (size_t c = 0; c < n; ++c) {
    int64_t true_positive = report.confusion[c][c], predicted_count = 0, gold_count = 0;
    for (size_t k = 0; k < n; ++k) {
      predicted_count += report.confusion[k][c];
      gold_count += report.confusion[c][k];
    }
    ClassScores scores;
    scores.label = labels[c];
    scores.support = gold_count;
    scores.precision =
        predicted_count ? static_cast<double>(true_positive) / static_cast<double>(predicted_count) : 0.0;
    scores.recall = gold_count ? static_cast<double>(true_positive) / static_cast<double>(gold_count) : 0.0;
    const double sum = scores.precision + scores.recall;
    scores.f1 = sum > 0 ? 2 * scores.precision * scores.recall / sum : 0.0;
    report.classes.push_back(scores);
  }
  report.macro = average_scores(report.classes, false);
  report.weighted = average_scores(report.classes, true);
  report.macro_f1 = report.macro.f1;
  return report;
}

nlohmann::json to_json(const EvaluationReport& report) {
  nlohmann::json classes = nlohmann::json::array();
  std::vector<std::string> labels;
  for (const auto& c : report.classes) {
    classes.push_back(
        {{"label", c.label}, {"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1}, {"support", c.support}});
    labels.push_back(c.label);
  }
  return {{"documents", report.documents},
          {"accuracy", report.accuracy},
          {"macro_f1", report.macro_f1},
          {"macro_avg", to_json(report.macro)},
          {"weighted_avg", to_json(report.weighted)},
          {"loss", report.loss},
          {"classes", classes},
          {"labels", labels},
          {"confusion", report.confusion}};
}

std::string format_report(const EvaluationReport& report) {
  size_t width = 12;  // "weighted avg"
  for (const auto& c : report.classes) width = std::max(width, c.label.size());
  std::string out = fmt::format("documents  {}\naccuracy   {:.2f}%\nmacro-F1   {:.2f}%\n\n", report.documents,
                                100 * report.accuracy, 100 * report.macro_f1);
  out += fmt::format("{:<{}}  {:>9}  {:>6}  {:>6}  {:>7}\n", "label", width, "precision", "recall", "F1", "support");
  for (const auto& c : report.classes) {
    out += fmt::format("{:<{}}  {:>8.2f}%  {:>5.2f}%  {:>5.2f}%  {:>7}\n", c.label, width, 100 * c.precision,
                       100 * c.recall, 100 * c.f1, c.support);
  }
  const auto average_row = [&](const char* name, const AveragedScores& s) {
    return fmt::format("{:<{}}  {:>8.2f}%  {:>5.2f}%  {:>5.2f}%  {:>7}\n", name, width, 100 * s.precision,
                       100 * s.recall, 100 * s.f1, report.documents);
  };
  out += average_row("macro avg", report.macro) + average_row("weighted avg", report.weighted);
  out += fmt::format("\nconfusion (rows: gold, columns: predicted)\n{:<{}}", "", width);
  size_t cell = 6;
  for (const auto& c : report.classes) cell = std::max(cell, c.label.size());
  for (const auto& c : report.classes) out += fmt::format("  {:>{}}", c.label, cell);
  out += "\n";
  for (size_t r = 0; r < report.classes.size(); ++r) {
    out += fmt::format("{:<{}}", report.classes[r].label, width);
    for (int64_t v : report.confusion[r]) out += fmt::format("  {:>{}}", v, cell);
    out += "\n";
  }
  return out;
}

// ------------------------------------------------------------ multi-label

namespace {

struct Counts {
  int64_t true_positive = 0, false_positive = 0, false_negative = 0;
};

ClassScores scores_of(const Counts& c, std::string label) {
  ClassScores s;
  s.label = std::move(label);
  s.support = c.true_positive + c.false_negative;
  const int64_t predicted = c.true_positive + c.false_positive;
  s.precision = predicted ? static_cast<double>(c.true_positive) / static_cast<double>(predicted) : 0.0;
  s.recall = s.support ? static_cast<double>(c.true_positive) / static_cast<double>(s.support) : 0.0;
  const double sum = s.precision + s.recall;
  s.f1 = sum > 0 ? 2 * s.precision * s.recall / sum : 0.0;
  return s;
}

// Per label, the counts of deciding "carries it" at `threshold` (per label).
std::vector<Counts> label_counts(const std::vector<std::vector<int32_t>>& gold,
                                 const std::vector<std::vector<float>>& probabilities,
                                 const std::vector<float>& thresholds) {
  std::vector<Counts> counts(thresholds.size());
  std::vector<char> is_gold(thresholds.size());
  for (size_t d = 0; d < gold.size(); ++d) {
    std::fill(is_gold.begin(), is_gold.end(), 0);
    for (const int32_t g : gold[d]) is_gold[static_cast<size_t>(g)] = 1;
    for (size_t k = 0; k < thresholds.size(); ++k) {
      const bool predicted = probabilities[d][k] >= thresholds[k];
      counts[k].true_positive += predicted && is_gold[k];
      counts[k].false_positive += predicted && !is_gold[k];
      counts[k].false_negative += !predicted && is_gold[k];
    }
  }
  return counts;
}

double micro_f1(const std::vector<Counts>& counts) {
  Counts sum;
  for (const Counts& c : counts) {
    sum.true_positive += c.true_positive;
    sum.false_positive += c.false_positive;
    sum.false_negative += c.false_negative;
  }
  return scores_of(sum, "").f1;
}

}  // namespace

MultiLabelReport compute_multilabel_metrics(const std::vector<std::vector<int32_t>>& gold,
                                            const std::vector<std::vector<float>>& probabilities,
                                            const std::vector<float>& thresholds,
                                            const std::vector<std::string>& labels) {
  const size_t n = labels.size();
  MultiLabelReport report;
  report.documents = static_cast<int64_t>(gold.size());
  const std::vector<Counts> counts = label_counts(gold, probabilities, thresholds);
  Counts sum;
  for (size_t k = 0; k < n; ++k) {
    report.classes.push_back(scores_of(counts[k], labels[k]));
    sum.true_positive += counts[k].true_positive;
    sum.false_positive += counts[k].false_positive;
    sum.false_negative += counts[k].false_negative;
  }
  const ClassScores micro = scores_of(sum, "");
  report.micro = {micro.precision, micro.recall, micro.f1};
  report.macro = average_scores(report.classes, false);
  report.precision_at.assign(report.at_k.size(), 0.0);
  report.recall_at.assign(report.at_k.size(), 0.0);
  int64_t exact = 0;
  std::vector<size_t> order(n);
  for (size_t d = 0; d < gold.size(); ++d) {
    const std::vector<float>& p = probabilities[d];
    int64_t predicted = 0, both = 0;
    for (size_t k = 0; k < n; ++k) {
      const bool yes = p[k] >= thresholds[k];
      const bool gold_has = std::find(gold[d].begin(), gold[d].end(), static_cast<int32_t>(k)) != gold[d].end();
      predicted += yes;
      both += yes && gold_has;
    }
    const auto gold_count = static_cast<int64_t>(gold[d].size());
    exact += both == gold_count && predicted == gold_count;
    report.example_f1 += predicted + gold_count == 0
                             ? 1.0
                             : 2.0 * static_cast<double>(both) / static_cast<double>(predicted + gold_count);
    // The k most probable labels, ties by label order.
    for (size_t k = 0; k < n; ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
    for (size_t i = 0; i < report.at_k.size(); ++i) {
      const auto k = static_cast<size_t>(report.at_k[i]);
      int64_t hits = 0;
      for (size_t j = 0; j < std::min(k, n); ++j) {
        hits += std::find(gold[d].begin(), gold[d].end(), static_cast<int32_t>(order[j])) != gold[d].end();
      }
      report.precision_at[i] += static_cast<double>(hits) / static_cast<double>(k);
      report.recall_at[i] += gold_count ? static_cast<double>(hits) / static_cast<double>(gold_count) : 1.0;
    }
  }
  if (!gold.empty()) {
    const auto documents = static_cast<double>(gold.size());
    report.example_f1 /= documents;
    report.subset_accuracy = static_cast<double>(exact) / documents;
    report.hamming_loss =
        static_cast<double>(sum.false_positive + sum.false_negative) / (documents * static_cast<double>(n));
    for (size_t i = 0; i < report.at_k.size(); ++i) {
      report.precision_at[i] /= documents;
      report.recall_at[i] /= documents;
    }
  }
  return report;
}

nlohmann::json to_json(const MultiLabelReport& report) {
  nlohmann::json j{{"multi_label", true},
                   {"documents", report.documents},
                   {"micro", to_json(report.micro)},
                   {"macro", to_json(report.macro)},
                   {"example_f1", report.example_f1},
                   {"hamming_loss", report.hamming_loss},
                   {"subset_accuracy", report.subset_accuracy},
                   {"loss", report.loss}};
  for (size_t i = 0; i < report.at_k.size(); ++i) {
    j[fmt::format("precision_at_{}", report.at_k[i])] = report.precision_at[i];
    j[fmt::format("recall_at_{}", report.at_k[i])] = report.recall_at[i];
  }
  nlohmann::json labels = nlohmann::json::array();
  for (const ClassScores& c : report.classes) {
    labels.push_back(
        {{"label", c.label}, {"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1}, {"support", c.support}});
  }
  j["labels"] = labels;
  return j;
}

std::string format_report(const MultiLabelReport& r) {
  std::string out = fmt::format(
      "documents: {}  (multi-label)\n"
      "micro    precision {:.2f}%  recall {:.2f}%  F1 {:.2f}%\n"
      "macro    precision {:.2f}%  recall {:.2f}%  F1 {:.2f}%\n"
      "example-based F1 {:.2f}%  exact sets {:.2f}%  Hamming loss {:.4f}\n",
      r.documents, 100 * r.micro.precision, 100 * r.micro.recall, 100 * r.micro.f1, 100 * r.macro.precision,
      100 * r.macro.recall, 100 * r.macro.f1, 100 * r.example_f1, 100 * r.subset_accuracy, r.hamming_loss);
  for (size_t i = 0; i < r.at_k.size(); ++i) {
    out += fmt::format("{}P@{} {:.2f}%  R@{} {:.2f}%", i ? "  " : "", r.at_k[i], 100 * r.precision_at[i], r.at_k[i],
                       100 * r.recall_at[i]);
  }
  out += "\n\n";
  size_t width = 5;
  for (const ClassScores& c : r.classes) width = std::max(width, c.label.size());
  out += fmt::format("{:<{}}  {:>9}  {:>9}  {:>9}  {:>7}\n", "label", width, "precision", "recall", "F1", "support");
  for (const ClassScores& c : r.classes) {
    out += fmt::format("{:<{}}  {:>8.2f}%  {:>8.2f}%  {:>8.2f}%  {:>7}\n", c.label, width, 100 * c.precision,
                       100 * c.recall, 100 * c.f1, c.support);
  }
  return out;
}

Thresholds tune_thresholds(const std::vector<std::vector<int32_t>>& gold,
                           const std::vector<std::vector<float>>& probabilities, int64_t labels,
                           int64_t min_positives) {
  const auto n = static_cast<size_t>(labels);
  std::vector<float> candidates;
  for (int i = 1; i <= 19; ++i) candidates.push_back(0.05f * static_cast<float>(i));
  Thresholds chosen;
  double best = -1;
  size_t global_index = 0;
  std::vector<std::vector<Counts>> at(candidates.size());
  for (size_t c = 0; c < candidates.size(); ++c) {
    at[c] = label_counts(gold, probabilities, std::vector<float>(n, candidates[c]));
    const double f1 = micro_f1(at[c]);
    // Ties: the candidate nearest 0.5.
    if (f1 > best || (f1 == best && std::abs(candidates[c] - 0.5f) < std::abs(chosen.global - 0.5f))) {
      best = f1;
      chosen.global = candidates[c];
      global_index = c;
    }
  }
  chosen.per_label.assign(n, chosen.global);
  for (size_t k = 0; k < n; ++k) {
    const Counts& any = at[0][k];
    if (any.true_positive + any.false_negative < min_positives) continue;
    double label_best = scores_of(at[global_index][k], "").f1;
    for (size_t c = 0; c < candidates.size(); ++c) {
      const double f1 = scores_of(at[c][k], "").f1;
      if (f1 > label_best) {
        label_best = f1;
        chosen.per_label[k] = candidates[c];
      }
    }
    ++chosen.tuned_labels;
  }
  return chosen;
}

}  // namespace han
