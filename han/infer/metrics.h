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

}  // namespace han
