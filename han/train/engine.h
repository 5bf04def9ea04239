// How a training step's gradients are computed: one interface, two engines
// (config.train.engine), chosen once by make_gradient_engine.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "han/data/data.h"
#include "han/model/model.h"

namespace han {

struct GradientResult {
  double loss_sum = 0;  // (class-weighted) cross-entropy summed over the share's documents
  int64_t correct = 0;
};

// This process's share of one batch, and what the step's gradient depends on.
struct BatchShare {
  const std::vector<const EncodedDocument*>& documents;
  double batch_size = 0;       // documents in the whole batch: the loss is their mean
  int64_t first_document = 0;  // the share's place in the whole batch (dropout masks)
  uint64_t dropout_seed = 0;   // this step's masks (the fused engine; the reference draws LibTorch's)
  double loss_scale = 1;       // mixed precision's loss scale
};

class GradientEngine {
 public:
  virtual ~GradientEngine() = default;
  // Sets the .grad() of every trainable parameter to the gradient of the
  // whole batch's mean loss over this share: no zero_grad() needed.
  virtual GradientResult gradients(const BatchShare& share) = 0;
  // Whether the padding row of the embedding gets a gradient.
  virtual bool pad_row_trains() const = 0;
  // The embedding-gradient rows that are not zero, when the engine keeps
  // that list (the fused engine clears only those); null otherwise. After a
  // data-parallel reduction the caller sets it to the union of every rank's.
  virtual std::vector<int32_t>* touched_embedding_rows() { return nullptr; }
  // Frees per-thread buffers; they grow back at the next call.
  virtual void release_buffers() {}
};

struct EngineOptions {
  Engine engine = Engine::kFused;
  int workers = 1;  // CPU threads that split a share
  torch::Device device = torch::kCPU;
  bool autocast = false;  // CUDA float16 autocast (the reference engine)
  // Each document's cross-entropy is multiplied by its label's weight (empty: all 1).
  std::vector<float> class_weights;
  // One sigmoid output per label and binary cross-entropy against each
  // document's targets.
  bool multi_label = false;
};

// The fused kernels run on the CPU; anywhere else the reference engine does.
Engine effective_engine(Engine requested, const torch::Device& device);

// `trainable`: the network's parameters that train, in its order.
std::unique_ptr<GradientEngine> make_gradient_engine(HierarchicalAttentionNetwork network,
                                                     std::vector<torch::Tensor> trainable,
                                                     const EngineOptions& options);

}  // namespace han
