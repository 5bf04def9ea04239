// The built-in default job: generate the synthetic corpus, train on it,
// explain a few held-out documents. Needs no data and no download.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "han/infer/infer.h"
#include "han/train/train.h"

namespace han {

struct DemoOptions {
  std::string output_dir = "han-demo";  // corpus, model and attention JSON go here
  int train_documents = 2000;
  int heldout_documents = 4;
  int epochs = 3;
  uint64_t seed = 7;
  int threads = 0;
};

// Small sizes: the synthetic task needs no more, and the demo stays fast.
Config demo_config(const DemoOptions& options);

struct DemoResult {
  std::string corpus_path;       // JSON Lines, training documents
  std::string heldout_path;      // JSON Lines, held-out documents
  std::string model_path;
  std::string explanations_path; // JSON Lines, one explanation per held-out document
  std::string report_path;       // the same attention as an HTML page
  TrainingReport training;
  std::vector<Document> heldout;
  std::vector<Explanation> explanations;
  std::vector<std::vector<int>> label_sentences;  // per held-out document
};

DemoResult run_demo(const DemoOptions& options, const TrainCallbacks& callbacks = {});

// Writes documents as JSON Lines ({"text": ..., "label": ...}), atomically.
void write_json_lines(const std::vector<Document>& documents, const std::string& path);

}  // namespace han
