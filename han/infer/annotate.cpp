#include "han/infer/annotate.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "han/base/error.h"
#include "han/base/file_io.h"
#include "han/infer/explain.h"

namespace han {

namespace {

std::string numbered(const char* column, int rank) {
  return rank == 1 ? std::string(column) : fmt::format("{}_{}", column, rank);
}

std::string csv_row(const std::vector<std::string>& fields, char delimiter) {
  std::string row;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) row += delimiter;
    row += csv_field(fields[i], delimiter);
  }
  return row + "\n";
}

// The columns a CSV/TSV output adds, refused when the input has them already.
std::vector<std::string> added_columns(const RecordReader& reader, const std::string& input, int top_k) {
  std::vector<std::string> added;
  if (top_k < 1) added = {kPredictedLabelsColumn, kProbabilitiesColumn};
  for (int rank = 1; rank <= top_k; ++rank) {
    added.push_back(numbered(kPredictedLabelColumn, rank));
    added.push_back(numbered(kProbabilityColumn, rank));
  }
  if (!reader.has_header()) return added;
  for (const std::string& column : reader.columns()) {
    for (const std::string& name : added) {
      if (column == name) {
        throw InputError(
            fmt::format("{}: already has a \"{}\" column (an earlier han classify's output?): "
                        "classify the original file",
                        input, name));
      }
    }
  }
  return added;
}

void append_prediction(std::vector<std::string>& fields, const std::vector<std::pair<std::string, float>>& top,
                       int top_k) {
  if (top_k < 1) {  // every label chosen, in two columns joined by '|'
    std::vector<std::string> names, probabilities;
    for (const auto& [label, p] : top) {
      names.push_back(label);
      probabilities.push_back(fmt::format("{:.4f}", p));
    }
    fields.push_back(fmt::format("{}", fmt::join(names, "|")));
    fields.push_back(fmt::format("{}", fmt::join(probabilities, "|")));
    return;
  }
  for (int rank = 0; rank < top_k; ++rank) {
    const bool has = static_cast<size_t>(rank) < top.size();
    fields.push_back(has ? top[static_cast<size_t>(rank)].first : std::string());
    fields.push_back(has ? fmt::format("{:.4f}", top[static_cast<size_t>(rank)].second) : std::string());
  }
}

// The record's own line with the prediction added as its last field: the
// user's fields keep their order and their numbers' spelling.
std::string json_line(const Record& record, const nlohmann::json& prediction) {
  if (record.object.contains(kPredictionField)) {
    throw InputError(
        fmt::format("{}: already has a \"{}\" field (an earlier han classify's output?): "
                    "classify the original file",
                    record.document.origin, kPredictionField));
  }
  std::string_view line = record.line;
  while (!line.empty() && line.back() != '}') line.remove_suffix(1);  // trailing spaces
  line.remove_suffix(1);
  const bool empty_object = record.object.empty();
  return fmt::format("{}{}\"{}\":{}}}\n", line, empty_object ? "" : ",", kPredictionField,
                     prediction.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

std::string csv_field(const std::string& value, char delimiter) {
  if (value.find_first_of(std::string{delimiter, '"', '\n', '\r'}) == std::string::npos) return value;
  std::string quoted = "\"";
  for (const char c : value) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

AnnotateSummary annotate_corpus(const Predictor& predictor, const LabelSet& labels, const std::string& input,
                                const CorpusOptions& options, const std::string& output,
                                const AnnotateOptions& annotate, const ProgressCallback& progress) {
  CorpusOptions relaxed = options;
  relaxed.labels_optional = true;
  RecordReader reader(input, relaxed);
  const bool csv = reader.format() == CorpusFormat::Csv || reader.format() == CorpusFormat::Tsv;
  if (!csv && reader.format() != CorpusFormat::JsonLines) {
    throw UsageError(fmt::format("{}: predictions are written beside CSV, TSV and JSON Lines records only", input));
  }
  const int top_k = std::max(0, annotate.top_k);
  AnnotateSummary summary;
  summary.format = reader.format();
  AtomicFileWriter out(output);
  if (csv) {
    std::vector<std::string> added = added_columns(reader, input, top_k);
    if (reader.has_header()) {
      std::vector<std::string> header = reader.columns();
      header.insert(header.end(), added.begin(), added.end());
      out.write(csv_row(header, reader.delimiter()));
    }
  }
  std::vector<Record> block;
  std::vector<Document> documents;
  bool more = true;
  while (more) {
    block.clear();
    documents.clear();
    Record record;
    while (static_cast<int64_t>(block.size()) < annotate.block && (more = reader.next(record))) {
      documents.push_back(record.document);
      block.push_back(std::move(record));
      record = Record{};
    }
    if (block.empty()) break;
    const std::vector<Prediction> predictions = predictor.predict(documents);
    for (size_t i = 0; i < block.size(); ++i) {
      const Prediction& p = predictions[i];
      summary.empty += p.empty;
      summary.truncated += p.sentences_cut + p.words_cut + p.bytes_cut > 0;
      if (csv) {
        const auto top =
            p.empty ? std::vector<std::pair<std::string, float>>{} : top_labels(p, labels, top_k, annotate.threshold);
        append_prediction(block[i].fields, top, top_k);
        out.write(csv_row(block[i].fields, reader.delimiter()));
      } else {
        out.write(json_line(block[i], prediction_to_json(p, labels, top_k, annotate.threshold)));
      }
    }
    summary.documents += static_cast<int64_t>(block.size());
    if (progress) progress(summary.documents, 0);
  }
  out.commit();
  summary.stats = reader.stats();
  return summary;
}

}  // namespace han
