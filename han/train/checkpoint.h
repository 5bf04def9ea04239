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
#include <set>
#include <string>
#include <vector>

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "han/model/model.h"
#include "han/train/train_state.h"

namespace han {

constexpr uint32_t kCheckpointFormatVersion = 2;

struct Checkpoint {
  Model model;                                  // config, vocabulary, labels, current weights
  std::vector<torch::Tensor> best_weights;      // empty until an epoch has been kept
  std::vector<torch::Tensor> averaged_weights;  // train.average's moving average; empty when off
  std::string optimizer_state;                  // torch::serialize archive bytes
  torch::Tensor generator_state;                // LibTorch's default CPU generator (dropout)
  TrainingState state;
  nlohmann::json run;  // what the program needs to restart the run (paths, options)
};

// Atomically (temporary file, fsync, rename): a crash or a full disk leaves
// the previous checkpoint as it was. Throws InputError naming the path.
void save_checkpoint(const Checkpoint& checkpoint, const std::string& path);

// Throws ModelFileError naming the path on a missing, truncated, damaged or
// foreign file, or one of another format version.
Checkpoint load_checkpoint(const std::string& path);
// A resumed run continues with the checkpoint's settings, except those it may
// change (train.threads, train.time_budget: other cores, other time;
// train.epochs, train.max_steps: a longer or shorter run), which
// `given` sets when `keys_given` names them. Throws UsageError naming each
// other setting that `given` sets otherwise.
Config resumed_config(const Config& given, const std::set<std::string>& keys_given, const Config& saved);
// The same from the file's bytes; `name` is used in messages.
Checkpoint parse_checkpoint(const std::string& data, const std::string& name);

nlohmann::json to_json(const TrainingState& state);
TrainingState training_state_from_json(const nlohmann::json& json);

}  // namespace han
