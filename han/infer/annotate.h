// Predictions written where the data is: beside each record of a corpus
// file, in that file's own format, streamed (memory holds one block of
// records, however long the file).
#pragma once

#include <cstdint>
#include <string>

#include "han/data/data.h"
#include "han/infer/inference.h"

namespace han {

struct AnnotateOptions {
  int top_k = 1;  // 0: a multi-label model's labels over their thresholds
  float threshold = 0.0f;
  int64_t block = 4096;  // records classified at a time
};

struct AnnotateSummary {
  CorpusFormat format = CorpusFormat::Auto;  // the format written: the input's
  int64_t documents = 0, empty = 0, truncated = 0;
  CorpusStats stats;  // what the reader repaired
};

// The columns (CSV, TSV) or field (JSON Lines) a prediction adds.
constexpr const char* kPredictedLabelColumn = "predicted_label";
constexpr const char* kProbabilityColumn = "probability";
constexpr const char* kPredictionField = "prediction";
// top_k 0 (a multi-label model's labels over their thresholds): every label
// chosen in one column, joined by '|', and their probabilities likewise.
constexpr const char* kPredictedLabelsColumn = "predicted_labels";
constexpr const char* kProbabilitiesColumn = "probabilities";

// Reads `input` (options.format: csv, tsv or jsonl) record by record and
// writes `output` atomically: every record as read, plus, for CSV and TSV,
// the columns predicted_label and probability (then predicted_label_2,
// probability_2, ... up to top_k; empty for labels under the threshold and
// for empty documents), and for JSON Lines a "prediction" field holding
// prediction_to_json. Throws InputError when the record already has them.
// `progress` gets the documents done so far (the total is not known).
AnnotateSummary annotate_corpus(const Predictor& predictor, const LabelSet& labels, const std::string& input,
                                const CorpusOptions& options, const std::string& output,
                                const AnnotateOptions& annotate = {}, const ProgressCallback& progress = {});

// One CSV/TSV field, quoted when it holds the delimiter, a quote or a line break.
std::string csv_field(const std::string& value, char delimiter);

}  // namespace han
