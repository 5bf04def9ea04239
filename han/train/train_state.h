// What a run has done so far: each epoch's summary, and where training
// stands. Both train.h and checkpoint.h use these; neither includes the other
// for them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace han {

struct EpochSummary {
  int epoch = 0;
  double train_loss = 0;
  double train_accuracy = 0;
  bool validated = false;
  double valid_loss = 0;
  double valid_accuracy = 0;  // multi-label models: micro-F1 at threshold 0.5
  double valid_macro_f1 = 0;
  bool multi_label = false;
  bool best = false;   // the best validation score so far
  double seconds = 0;  // training part of the epoch
  double docs_per_second = 0;
  double learning_rate = 0;
  bool refit = false;  // an epoch of the refit on all the training data (train.refit), never validated
};
nlohmann::json to_json(const EpochSummary& epoch);

// Where training stands. An epoch is replayed from its start: the shuffle
// generator's state at that start regenerates the same batches, and the
// first `step` of them are skipped.
struct TrainingState {
  int epoch = 1;              // the epoch in progress, 1-based
  int64_t step = 0;           // batches of that epoch already applied
  int64_t global_step = 0;    // batches applied since the start of training
  std::string shuffle_state;  // std::mt19937_64 at the start of `epoch`
  double loss_sum = 0;        // over the epoch's applied batches
  int64_t correct = 0;
  int64_t done = 0;           // documents of the epoch so far
  double epoch_seconds = 0;   // training time of the epoch so far
  double best_accuracy = -1;  // the best validation score of train.select_by (accuracy, macro-F1 or -loss)
  double best_loss = 0;
  int best_epoch = 0;
  int epochs_without_gain = 0;
  bool finished = false;             // no epoch left: what follows training (refit, saving) is all that remains
  bool warm_started = false;         // from --init's weights, which a resumed run no longer has
  std::vector<EpochSummary> epochs;  // finished epochs
};

}  // namespace han
