// Export: predictions and attention as JSON for programs, and a short
// readable summary for people. docs/ATTENTION_JSON.md documents the schema.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "han/data/data.h"
#include "han/infer/inference.h"

namespace han {

constexpr int kExplanationSchemaVersion = 1;

// One JSON object per document: the predicted label, every probability and,
// per sentence, its text, span and weight, and per word its token, span,
// weight within the sentence and the paper's display score sqrt(p_s) * p_w.
nlohmann::json explanation_to_json(const Explanation& explanation, const Document& document, const LabelSet& labels);

// Top-k labels with probability at least `threshold`, most probable first
// (k < 1: every such label). For a multi-label model, k < 1 with threshold 0
// gives the labels at or above the model's own thresholds.
std::vector<std::pair<std::string, float>> top_labels(const Prediction& prediction, const LabelSet& labels, int k,
                                                      float threshold);

// The prediction schema of `han classify --json` and the Python module:
// {"labels": [{"label", "probability"}, ...]} (top_labels), plus "empty": true
// for a document without words (then no label) and "truncated": {"sentences",
// "words", "bytes"} when the caps cut it.
nlohmann::json prediction_to_json(const Prediction& prediction, const LabelSet& labels, int k, float threshold);

// A few lines: label and confidence, the most attended sentence and its
// most attended words.
std::string summarize_explanation(const Explanation& explanation, const LabelSet& labels, int max_words = 3);

}  // namespace han
