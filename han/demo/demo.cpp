#include "han/demo/demo.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "han/base/error.h"
#include "han/data/data.h"
#include "han/infer/infer.h"
#include "han/model/model.h"
#include "han/report/report.h"

namespace han {
namespace {

// The paper's sizes, with a wider word attention (200): smaller models or
// attention solved the task as well but often read one genre's cue sentence
// from the words beside its cue word. Sentence dropout 0.5 trains on reviews
// whose cue sentence is gone, so "no cue of the other genres" never implies a
// genre and every genre's own cue sentence has to draw the attention.
constexpr const char* kDemoConfig = R"({
  "text": {"lowercase": true, "max_sentences": 64, "max_words": 100, "max_bytes": 1048576, "locale": "en",
           "join_lines": false},
  "model": {"embedding_dim": 200, "word_hidden": 50, "sentence_hidden": 50, "word_attention": 200,
            "sentence_attention": 100, "dropout": 0.0, "pooling": "attention", "multi_label": false},
  "train": {"optimizer": "adam", "learning_rate": 0.005, "momentum": 0.9, "weight_decay": 0.0, "clip_norm": 5.0,
            "average": 0.0, "word_dropout": 0.0, "sentence_dropout": 0.5, "batch_size": 64, "epochs": 10,
            "patience": 2, "select_by": "accuracy", "class_weights": "none", "valid_fraction": 0.1, "seed": 7, "threads": 0, "min_count": 2, "max_vocab": 50000,
            "embeddings": "", "embeddings_format": "auto", "freeze_embeddings": false, "pretrain_epochs": 0, "unlabeled": "",
            "time_budget": 0, "max_steps": 0, "refit": "never", "engine": "fused"}
})";

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

size_t argmax(const std::vector<float>& weights) {
  return static_cast<size_t>(std::max_element(weights.begin(), weights.end()) - weights.begin());
}

// Counts one document into its class's scores; `shares` collects the cue sentence's attention.
void score_one(const SyntheticDocument& d, const Explanation& e, int64_t gold, CueScores& s,
               std::vector<double>& shares) {
  ++s.documents;
  s.accuracy += e.prediction.label == gold;
  const auto cue = static_cast<size_t>(d.cue_sentence);
  if (cue >= e.sentence_weights.size()) {  // a tokenizer that split differently: counts as a miss
    shares.push_back(0);
    return;
  }
  shares.push_back(e.sentence_weights[cue]);
  s.cue_sentence_top += argmax(e.sentence_weights) == cue;
  const auto& words = e.tokens.sentences[cue].words;
  if (!words.empty()) s.cue_word_top += words[argmax(e.word_weights[cue])].form == d.cue_word;
}

}  // namespace

nlohmann::json demo_config_json() { return nlohmann::json::parse(kDemoConfig); }

Config demo_config() { return config_from_json(demo_config_json()); }

std::vector<CueScores> score_cues(const std::vector<SyntheticDocument>& documents,
                                  const std::vector<Explanation>& explanations, const LabelSet& labels) {
  std::vector<CueScores> scores(labels.size());
  std::vector<std::vector<double>> shares(labels.size());
  for (size_t i = 0; i < documents.size(); ++i) {
    const int64_t gold = labels.id(documents[i].document.label);
    if (gold < 0)
      throw InputError(
          fmt::format("{}: label {} is not the model's", documents[i].document.origin, documents[i].document.label));
    score_one(documents[i], explanations[i], gold, scores[static_cast<size_t>(gold)],
              shares[static_cast<size_t>(gold)]);
  }
  for (size_t k = 0; k < scores.size(); ++k) {
    CueScores& s = scores[k];
    s.label = labels.name(static_cast<int64_t>(k));
    s.cue_sentence_median = median(shares[k]);
    const double n = std::max(1, s.documents);
    s.accuracy /= n;
    s.cue_sentence_top /= n;
    s.cue_word_top /= n;
  }
  return scores;
}

void write_json_lines(const std::vector<Document>& documents, const std::string& path) {
  std::string text;
  for (const Document& d : documents) text += nlohmann::json{{"text", d.text}, {"label", d.label}}.dump() + "\n";
  write_file_atomically(path, text);
}

namespace {

DemoResult demo_paths(const std::string& output_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(output_dir, ec);
  if (ec) throw InputError(fmt::format("{}: cannot create folder ({})", output_dir, ec.message()));
  DemoResult result;
  const fs::path dir(output_dir);
  result.corpus_path = (dir / "train.jsonl").string();
  result.heldout_path = (dir / "heldout.jsonl").string();
  result.model_path = (dir / "demo.han").string();
  result.explanations_path = (dir / "attention.jsonl").string();
  result.report_path = (dir / "attention.html").string();
  return result;
}

std::vector<Document> documents_of(const std::vector<SyntheticDocument>& synthetic) {
  std::vector<Document> documents;
  documents.reserve(synthetic.size());
  for (const auto& d : synthetic) documents.push_back(d.document);
  return documents;
}

// The first held-out document of each class, in the model's label order.
std::vector<size_t> first_of_each_class(const std::vector<SyntheticDocument>& heldout, const LabelSet& labels) {
  std::vector<size_t> shown;
  for (const std::string& label : labels.names()) {
    for (size_t i = 0; i < heldout.size(); ++i) {
      if (heldout[i].document.label == label) {
        shown.push_back(i);
        break;
      }
    }
  }
  return shown;
}

// attention.jsonl holds every held-out document; the page only the shown ones, to stay small.
void write_attention(DemoResult& result, const Model& model) {
  std::string lines;
  nlohmann::json shown = nlohmann::json::array();
  for (size_t i = 0; i < result.heldout.size(); ++i) {
    const auto object = explanation_to_json(result.explanations[i], result.heldout[i].document, model.labels);
    lines += object.dump() + "\n";
    if (std::find(result.shown.begin(), result.shown.end(), i) != result.shown.end()) shown.push_back(object);
  }
  write_file_atomically(result.explanations_path, lines);
  ReportOptions report;
  report.title = "han demo: attention on held-out synthetic film reviews";
  report.subtitle = fmt::format("model {}; one sentence of each review names its genre", result.model_path);
  write_file_atomically(result.report_path, render_html_report(shown, report));
}

}  // namespace

DemoResult run_demo(const DemoOptions& options, const TrainCallbacks& callbacks) {
  DemoResult result = demo_paths(options.output_dir);
  const auto classes = static_cast<int>(synthetic_labels().size());
  auto corpus =
      make_synthetic_corpus(options.train_documents + classes * options.heldout_per_class, options.config.train.seed);
  // The corpus cycles through the labels, so its tail holds heldout_per_class of each.
  result.heldout.assign(corpus.begin() + options.train_documents, corpus.end());
  corpus.resize(static_cast<size_t>(options.train_documents));
  Corpus train;
  train.path = result.corpus_path;
  train.format = CorpusFormat::JsonLines;
  train.documents = documents_of(corpus);
  write_json_lines(train.documents, result.corpus_path);
  write_json_lines(documents_of(result.heldout), result.heldout_path);

  Model model = train_model(train, nullptr, options.config, callbacks, &result.training);
  save_model(model, result.model_path);

  const Config& config = options.config;
  Predictor predictor(model, config.train.batch_size, configure_threads(config.train.threads));
  result.explanations = predictor.explain(documents_of(result.heldout));
  result.scores = score_cues(result.heldout, result.explanations, model.labels);
  result.shown = first_of_each_class(result.heldout, model.labels);
  write_attention(result, model);
  return result;
}

}  // namespace han
