// The optimizer step and gradient clipping, with a fast path for the word
// embedding: a batch uses a few thousand of its rows, and its gradient is
// zero everywhere else. Visiting every row made the Adam step and clipping
// the largest cost outside the matrix products.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/optim/adam.h>
#include <torch/optim/optimizer.h>

#include "han/data/config.h"

namespace han {

// Adam with one pass over each CPU parameter on `threads` threads, where
// LibTorch's Adam makes about ten, allocating temporaries as large as the
// embedding. With `lazy`, the embedding's step moves only the rows given to
// set_rows ("lazy" Adam, as PyTorch's SparseAdam): their moments and weights
// update as Adam's, with the parameter's step count, while the other rows
// and their moments stay as they were, where Adam keeps decaying the moments
// and moving the rows. Parameters off the CPU step as torch::optim::Adam
// does. The state is Adam's, so checkpoints do not change.
class FastAdam : public torch::optim::Adam {
 public:
  FastAdam(const std::vector<torch::Tensor>& parameters, const torch::optim::AdamOptions& options,
           torch::Tensor embedding, int threads, bool lazy);
  // With `lazy`: the embedding rows whose gradient may be non-zero in the
  // next step, sorted, each once. Without it, or without this call before a
  // step, that step moves every row.
  void set_rows(std::vector<int32_t> rows) {
    rows_ = std::move(rows);
    rows_set_ = lazy_;
  }
  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  torch::optim::AdamParamState& state_of(const torch::Tensor& parameter);

  torch::Tensor embedding_;
  int threads_;
  bool lazy_;
  std::vector<int32_t> rows_;
  bool rows_set_ = false;  // for the next step only
};

// "adam" (FastAdam), "lazy_adam" (FastAdam, lazy) or "sgd" (with momentum).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& parameters,
                                                        const torch::Tensor& embedding, const TrainConfig& config,
                                                        int threads);

// torch::nn::utils::clip_grad_norm_ for gradients that are zero outside
// `rows` of the embedding's: the same norm and scaling, without reading the
// other rows (on up to `threads` threads, with the same result for any).
// Returns the norm before clipping.
double clip_gradient_norm(const std::vector<torch::Tensor>& parameters, const torch::Tensor& embedding,
                          const std::vector<int32_t>& rows, double max_norm, int threads = 1);

}  // namespace han
