// Training checkpoints: everything needed to continue a run exactly where it
// stopped, so that a resumed run ends with the same weights, bit for bit, as
// one that was never interrupted (with a fixed seed and thread count).
//
// Layout (little-endian), format version 2:
//   "HANCKPT1"  u32 format_version  u64 header_bytes  header (JSON)
//   five sections, each u64 bytes then the bytes:
//     the current model (a complete model file), the best epoch's weights
//     (float32 in parameter order; empty before the first epoch ends), the
//     optimizer state (LibTorch's archive), the random generator state, and
//     the weights' moving average (float32; empty unless train.average)
//   u32 CRC-32 of all before it
// Version 1 is version 2 without the last section; both are read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "han/model_file.h"
#include "han/train.h"

namespace han {

constexpr uint32_t kCheckpointFormatVersion = 2;

// Where training stands. An epoch is replayed from its start: the shuffle
// generator's state at that start regenerates the same batches, and the
// first `step` of them are skipped.
struct TrainingState {
  int epoch = 1;                    // the epoch in progress, 1-based
  int64_t step = 0;                 // batches of that epoch already applied
  int64_t global_step = 0;          // batches applied since the start of training
  std::string shuffle_state;        // std::mt19937_64 at the start of `epoch`
  double loss_sum = 0;              // over the epoch's applied batches
  int64_t correct = 0;
  int64_t done = 0;                 // documents of the epoch so far
  double epoch_seconds = 0;         // training time of the epoch so far
  double best_accuracy = -1;
  double best_loss = 0;
  int best_epoch = 0;
  int epochs_without_gain = 0;
  std::vector<EpochSummary> epochs; // finished epochs
};

struct Checkpoint {
  Model model;                             // config, vocabulary, labels, current weights
  std::vector<torch::Tensor> best_weights; // empty until an epoch has been kept
  std::vector<torch::Tensor> averaged_weights;  // train.average's moving average; empty when off
  std::string optimizer_state;             // torch::serialize archive bytes
  torch::Tensor generator_state;           // LibTorch's default CPU generator (dropout)
  TrainingState state;
  nlohmann::json run;                      // what the program needs to restart the run (paths, options)
};

// Atomically (temporary file, fsync, rename): a crash or a full disk leaves
// the previous checkpoint as it was. Throws InputError naming the path.
void save_checkpoint(const Checkpoint& checkpoint, const std::string& path);

// Throws ModelFileError naming the path on a missing, truncated, damaged or
// foreign file, or one of another format version.
Checkpoint load_checkpoint(const std::string& path);
// The same from the file's bytes; `name` is used in messages.
Checkpoint parse_checkpoint(const std::string& data, const std::string& name);

nlohmann::json to_json(const TrainingState& state);
TrainingState training_state_from_json(const nlohmann::json& json);

}  // namespace han
