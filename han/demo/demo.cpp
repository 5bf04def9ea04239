#include "han/demo/demo.h"

#include <filesystem>

#include <fmt/format.h>

#include "han/base/error.h"
#include "han/data/data.h"
#include "han/infer/infer.h"
#include "han/model/model.h"
#include "han/report/report.h"

namespace han {

Config demo_config(const DemoOptions& options) {
  Config config;
  config.model.embedding_dim = 64;
  config.model.word_hidden = 32;
  config.model.sentence_hidden = 32;
  config.model.word_attention = 32;
  config.model.sentence_attention = 32;
  config.train.optimizer = "adam";
  config.train.learning_rate = 0.005;
  config.train.epochs = options.epochs;
  config.train.min_count = 2;
  config.train.seed = options.seed;
  config.train.threads = options.threads;
  return config;
}

void write_json_lines(const std::vector<Document>& documents, const std::string& path) {
  std::string text;
  for (const Document& d : documents) text += nlohmann::json{{"text", d.text}, {"label", d.label}}.dump() + "\n";
  write_file_atomically(path, text);
}

DemoResult run_demo(const DemoOptions& options, const TrainCallbacks& callbacks) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.output_dir, ec);
  if (ec) throw InputError(fmt::format("{}: cannot create folder ({})", options.output_dir, ec.message()));

  DemoResult result;
  const fs::path dir(options.output_dir);
  result.corpus_path = (dir / "train.jsonl").string();
  result.heldout_path = (dir / "heldout.jsonl").string();
  result.model_path = (dir / "demo.han").string();
  result.explanations_path = (dir / "attention.jsonl").string();
  result.report_path = (dir / "attention.html").string();

  auto corpus = make_synthetic_corpus(options.train_documents + options.heldout_documents, options.seed);
  Corpus train;
  train.path = result.corpus_path;
  train.format = CorpusFormat::JsonLines;
  for (int i = 0; i < options.train_documents; ++i) train.documents.push_back(corpus[static_cast<size_t>(i)].document);
  for (size_t i = static_cast<size_t>(options.train_documents); i < corpus.size(); ++i) {
    result.heldout.push_back(corpus[i].document);
    result.label_sentences.push_back(corpus[i].label_sentences);
  }
  write_json_lines(train.documents, result.corpus_path);
  write_json_lines(result.heldout, result.heldout_path);

  const Config config = demo_config(options);
  Model model = train_model(train, nullptr, config, callbacks, &result.training);
  save_model(model, result.model_path);

  Predictor predictor(model, config.train.batch_size, configure_threads(config.train.threads));
  result.explanations = predictor.explain(result.heldout);
  std::string lines;
  nlohmann::json objects = nlohmann::json::array();
  for (size_t i = 0; i < result.heldout.size(); ++i) {
    objects.push_back(explanation_to_json(result.explanations[i], result.heldout[i], model.labels));
    lines += objects.back().dump() + "\n";
  }
  write_file_atomically(result.explanations_path, lines);
  ReportOptions report;
  report.title = "han demo: attention on held-out synthetic reviews";
  report.subtitle = fmt::format("model {}; the label is carried by one or two sentences of each review", result.model_path);
  write_file_atomically(result.report_path, render_html_report(objects, report));
  return result;
}

}  // namespace han
