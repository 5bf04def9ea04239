#include "han/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>

#include <torch/optim/sgd.h>
#include <torch/torch.h>

#include "han/base/parallel.h"

namespace han {

namespace {

// The key of a parameter's state: a string in LibTorch 1.x, the TensorImpl
// pointer in 2.x.
template <class Map>
typename Map::key_type state_key(const torch::Tensor& parameter) {
  if constexpr (std::is_same_v<typename Map::key_type, std::string>) {
    std::ostringstream key;
    key << parameter.unsafeGetTensorImpl();
    return key.str();
  } else {
    return parameter.unsafeGetTensorImpl();
  }
}

bool rows_apply(const torch::Tensor& p) {
  return p.defined() && p.is_cpu() && p.scalar_type() == torch::kFloat32 && p.dim() == 2 && p.is_contiguous() &&
         p.grad().defined() && p.grad().is_contiguous();
}

// Splits `rows` into one range per thread when they hold enough work to pay
// for starting the threads.
void for_row_ranges(size_t rows, int64_t dim, int threads, const std::function<void(size_t, size_t)>& work) {
  constexpr int64_t kValuesPerThread = 1 << 16;
  const auto useful = static_cast<int>(std::min<int64_t>(
      std::max(1, threads), std::max<int64_t>(1, static_cast<int64_t>(rows) * dim / kValuesPerThread)));
  run_on_threads(useful, [&](int t) {
    work(rows * static_cast<size_t>(t) / static_cast<size_t>(useful),
         rows * static_cast<size_t>(t + 1) / static_cast<size_t>(useful));
  });
}

}  // namespace

LazyAdam::LazyAdam(const std::vector<torch::Tensor>& parameters, const torch::optim::AdamOptions& options,
                   torch::Tensor embedding, int threads)
    : torch::optim::Adam(parameters, options), embedding_(std::move(embedding)), threads_(std::max(1, threads)) {}

torch::optim::AdamParamState& LazyAdam::state_of(const torch::Tensor& p) {
  const auto key = state_key<decltype(state_)>(p);
  auto found = state_.find(key);
  if (found == state_.end()) {
    auto state = std::make_unique<torch::optim::AdamParamState>();
    state->step(0);
    state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    found = state_.emplace(key, std::move(state)).first;
  }
  return static_cast<torch::optim::AdamParamState&>(*found->second);
}

torch::Tensor LazyAdam::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    TORCH_CHECK(!options.amsgrad(), "LazyAdam has no AMSGrad");
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& state = state_of(p);
      state.step(state.step() + 1);
      if (p.is_same(embedding_) && rows_set_ && rows_apply(p)) {
        step_rows(p, state, options);
        continue;
      }
      // torch::optim::Adam's arithmetic, operation by operation.
      const double beta1 = std::get<0>(options.betas());
      const double beta2 = std::get<1>(options.betas());
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(state.step()));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(state.step()));
      torch::Tensor grad = p.grad();
      if (options.weight_decay() != 0) grad = grad.add(p, options.weight_decay());
      state.exp_avg().mul_(beta1).add_(grad, 1 - beta1);
      state.exp_avg_sq().mul_(beta2).addcmul_(grad, grad, 1 - beta2);
      const torch::Tensor denom = (state.exp_avg_sq().sqrt() / std::sqrt(bias_correction2)).add_(options.eps());
      p.addcdiv_(state.exp_avg(), denom, -options.lr() / bias_correction1);
    }
  }
  rows_set_ = false;
  return loss;
}

void LazyAdam::step_rows(const torch::Tensor& p, torch::optim::AdamParamState& state,
                         const torch::optim::AdamOptions& options) const {
  const double beta1 = std::get<0>(options.betas());
  const double beta2 = std::get<1>(options.betas());
  const auto step = static_cast<double>(state.step());
  const auto b1 = static_cast<float>(beta1);
  const auto b2 = static_cast<float>(beta2);
  const auto rest1 = static_cast<float>(1 - beta1);
  const auto rest2 = static_cast<float>(1 - beta2);
  const auto root_correction2 = static_cast<float>(std::sqrt(1 - std::pow(beta2, step)));
  const auto step_size = static_cast<float>(options.lr() / (1 - std::pow(beta1, step)));
  const auto eps = static_cast<float>(options.eps());
  const auto decay = static_cast<float>(options.weight_decay());
  const int64_t dim = p.size(1);
  float* weights = p.data_ptr<float>();
  const float* gradient = p.grad().data_ptr<float>();
  float* mean = state.exp_avg().data_ptr<float>();
  float* square = state.exp_avg_sq().data_ptr<float>();
  for_row_ranges(rows_.size(), dim, threads_, [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) {
      const int64_t offset = static_cast<int64_t>(rows_[r]) * dim;
      float* w = weights + offset;
      const float* g = gradient + offset;
      float* m = mean + offset;
      float* v = square + offset;
      for (int64_t k = 0; k < dim; ++k) {
        const float gk = g[k] + decay * w[k];
        m[k] = b1 * m[k] + rest1 * gk;
        v[k] = b2 * v[k] + rest2 * gk * gk;
        w[k] -= step_size * m[k] / (std::sqrt(v[k]) / root_correction2 + eps);
      }
    }
  });
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& parameters,
                                                        const torch::Tensor& embedding, const TrainConfig& config,
                                                        int threads) {
  const auto adam = torch::optim::AdamOptions(config.learning_rate).weight_decay(config.weight_decay);
  if (config.optimizer == "adam") return std::make_unique<LazyAdam>(parameters, adam, embedding, threads);
  if (config.optimizer == "dense_adam") return std::make_unique<torch::optim::Adam>(parameters, adam);
  return std::make_unique<torch::optim::SGD>(
      parameters,
      torch::optim::SGDOptions(config.learning_rate).momentum(config.momentum).weight_decay(config.weight_decay));
}

double clip_gradient_norm(const std::vector<torch::Tensor>& parameters, const torch::Tensor& embedding,
                          const std::vector<int32_t>& rows, double max_norm) {
  torch::NoGradGuard no_grad;
  const int64_t dim = embedding.defined() ? embedding.size(1) : 0;
  double squares = 0;  // the squared norm of every gradient together
  for (const torch::Tensor& p : parameters) {
    if (!p.grad().defined()) continue;
    if (!p.is_same(embedding)) {
      const double norm = p.grad().norm().item<double>();
      squares += norm * norm;
      continue;
    }
    const float* gradient = p.grad().data_ptr<float>();
    for (int32_t row : rows) {
      const float* g = gradient + static_cast<int64_t>(row) * dim;
      for (int64_t k = 0; k < dim; ++k) squares += static_cast<double>(g[k]) * g[k];
    }
  }
  const double norm = std::sqrt(squares);
  const double coefficient = max_norm / (norm + 1e-6);
  if (coefficient >= 1) return norm;
  for (const torch::Tensor& p : parameters) {
    if (!p.grad().defined()) continue;
    if (!p.is_same(embedding)) {
      const_cast<torch::Tensor&>(p).mutable_grad().mul_(coefficient);
      continue;
    }
    float* gradient = p.grad().data_ptr<float>();
    const auto scale = static_cast<float>(coefficient);
    for (int32_t row : rows) {
      float* g = gradient + static_cast<int64_t>(row) * dim;
      for (int64_t k = 0; k < dim; ++k) g[k] *= scale;
    }
  }
  return norm;
}

}  // namespace han
