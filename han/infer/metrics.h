// Classification metrics: accuracy, macro-F1, per-class scores, confusion matrix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace han {

struct ClassScores {
  std::string label;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  int64_t support = 0;  // gold documents of this class
};

// Precision, recall and F1 averaged over the classes.
struct AveragedScores {
  double precision = 0;
  double recall = 0;
  double f1 = 0;
};

struct EvaluationReport {
  int64_t documents = 0;
  double accuracy = 0;
  double macro_f1 = 0;      // = macro.f1
  AveragedScores macro;     // each class counts the same
  AveragedScores weighted;  // each class counts by its support (scikit-learn's "weighted avg")
  double loss = 0;          // mean cross-entropy, when known
  std::vector<ClassScores> classes;
  std::vector<std::vector<int64_t>> confusion;  // [gold][predicted]
};

// gold and predicted hold label ids in [0, labels.size()).
EvaluationReport compute_metrics(const std::vector<int64_t>& gold, const std::vector<int64_t>& predicted,
                                 const std::vector<std::string>& labels);

nlohmann::json to_json(const EvaluationReport& report);
// A table for people: overall scores, per-class scores, confusion matrix.
std::string format_report(const EvaluationReport& report);

// ------------------------------------------------------------ multi-label

// Scores of a multi-label model: each document has a set of gold labels
// and a set of predicted ones (those at or above their threshold).
struct MultiLabelReport {
  int64_t documents = 0;
  AveragedScores micro;        // from the true and false positives and negatives summed over labels
  AveragedScores macro;        // per-label scores averaged, each label the same
  double example_f1 = 0;       // per document F1 of its two sets, averaged (both empty: 1)
  double hamming_loss = 0;     // wrong (document, label) decisions over documents x labels
  double subset_accuracy = 0;  // documents whose predicted set is exactly the gold one
  // fastText's P@k and R@k for k = 1, 3, 5: precision of the k most probable
  // labels, and the share of the gold labels among them.
  std::vector<int> at_k{1, 3, 5};
  std::vector<double> precision_at, recall_at;
  double loss = 0;                   // mean binary cross-entropy summed over labels, when known
  std::vector<ClassScores> classes;  // per label; support: gold documents carrying it
};

// gold: each document's label ids; probabilities: [documents][labels];
// thresholds: one per label.
MultiLabelReport compute_multilabel_metrics(const std::vector<std::vector<int32_t>>& gold,
                                            const std::vector<std::vector<float>>& probabilities,
                                            const std::vector<float>& thresholds,
                                            const std::vector<std::string>& labels);

nlohmann::json to_json(const MultiLabelReport& report);
std::string format_report(const MultiLabelReport& report);

// Decision thresholds chosen on validation data: one global threshold that
// maximises micro-F1, then, for each label with at least `min_positives` gold
// documents, its own threshold that maximises its F1 (the global one
// otherwise). Candidates: 0.05, 0.10, ..., 0.95.
struct Thresholds {
  float global = 0.5f;
  std::vector<float> per_label;
  int64_t tuned_labels = 0;  // labels with a threshold of their own
};
Thresholds tune_thresholds(const std::vector<std::vector<int32_t>>& gold,
                           const std::vector<std::vector<float>>& probabilities, int64_t labels,
                           int64_t min_positives = 5);

}  // namespace han
