// The built-in default job: generate the synthetic corpus, train on it,
// measure on held-out documents whether the attention finds each genre's cue
// sentence and cue word, and explain one held-out document per genre. Needs
// no data and no download.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "han/data/data.h"
#include "han/infer/infer.h"
#include "han/train/train.h"

namespace han {

// The demo's own settings, every key spelled out, so that a change to the
// general defaults (config.h) does not change the demo. Pinned in code, not
// read from configs/, so `han demo` runs from any folder; `han demo
// --dump-config` prints it, ready for `han train --config`.
Config demo_config();
// The same as JSON, exactly as pinned: it names every key of to_json(Config).
nlohmann::json demo_config_json();

struct DemoOptions {
  std::string output_dir = "han-demo";  // corpus, model and attention JSON go here
  int train_documents = 2000;
  int heldout_per_class = 200;
  Config config = demo_config();  // --epochs and --seed write into config.train
};

// How one class's held-out documents fared: the share classified right, the
// share whose cue sentence drew the most sentence attention, the median share
// of sentence attention on the cue sentence, and the share whose cue word is
// the top word of the cue sentence.
struct CueScores {
  std::string label;
  int documents = 0;
  double accuracy = 0;
  double cue_sentence_top = 0;
  double cue_sentence_median = 0;
  double cue_word_top = 0;
};

// One entry per label of `labels`, in its order. Explanations align with documents.
std::vector<CueScores> score_cues(const std::vector<SyntheticDocument>& documents,
                                  const std::vector<Explanation>& explanations, const LabelSet& labels);

struct DemoResult {
  std::string corpus_path;   // JSON Lines, training documents
  std::string heldout_path;  // JSON Lines, held-out documents
  std::string model_path;
  std::string explanations_path;  // JSON Lines, one explanation per held-out document
  std::string report_path;        // the shown documents' attention as an HTML page
  TrainingReport training;
  std::vector<SyntheticDocument> heldout;
  std::vector<Explanation> explanations;  // per held-out document
  std::vector<CueScores> scores;          // per class
  std::vector<size_t> shown;              // the first held-out document of each class
};

DemoResult run_demo(const DemoOptions& options, const TrainCallbacks& callbacks = {});

// Writes documents as JSON Lines ({"text": ..., "label": ...}), atomically.
void write_json_lines(const std::vector<Document>& documents, const std::string& path);

}  // namespace han
