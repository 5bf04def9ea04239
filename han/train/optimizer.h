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

// Adam whose step moves only the embedding rows the batch used ("lazy" Adam,
// as PyTorch's SparseAdam): their moments and weights update as Adam's, with
// the parameter's step count; the other rows and their moments stay as they
// were, where dense Adam would keep decaying the moments and moving the rows.
// Every other parameter, and the embedding on a GPU, steps as
// torch::optim::Adam does. Its state is Adam's, so checkpoints do not change.
class LazyAdam : public torch::optim::Adam {
 public:
  LazyAdam(const std::vector<torch::Tensor>& parameters, const torch::optim::AdamOptions& options,
           torch::Tensor embedding, int threads);
  // The embedding rows whose gradient may be non-zero in the next step:
  // sorted, each once.
  // Without it, the next step updates every row, as Adam does.
  void set_rows(std::vector<int32_t> rows) {
    rows_ = std::move(rows);
    rows_set_ = true;
  }
  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  torch::optim::AdamParamState& state_of(const torch::Tensor& parameter);
  void step_rows(const torch::Tensor& parameter, torch::optim::AdamParamState& state,
                 const torch::optim::AdamOptions& options) const;

  torch::Tensor embedding_;
  int threads_;
  std::vector<int32_t> rows_;
  bool rows_set_ = false;  // for the next step only
};

// "adam" (LazyAdam), "dense_adam" (torch::optim::Adam) or "sgd" (with momentum).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& parameters,
                                                        const torch::Tensor& embedding, const TrainConfig& config,
                                                        int threads);

// torch::nn::utils::clip_grad_norm_ for gradients that are zero outside
// `rows` of the embedding's: the same norm and scaling, without reading the
// other rows. Returns the norm before clipping.
double clip_gradient_norm(const std::vector<torch::Tensor>& parameters, const torch::Tensor& embedding,
                          const std::vector<int32_t>& rows, double max_norm);

}  // namespace han
