#include "han/infer/metrics.h"

#include <algorithm>

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

}  // namespace han
