#include "han/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>

#include <torch/optim/sgd.h>
#include <torch/torch.h>

#include "han/base/parallel.h"
#include "han/base/vector_math.h"

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

bool on_cpu_in_float(const torch::Tensor& t, const torch::Tensor& like) {
  return t.is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous() && t.sizes() == like.sizes();
}

// Whether the one-pass update can read the weights, gradient and moments as
// plain float arrays of the same shape (a loaded state may not be).
bool plain_floats(const torch::Tensor& p, const torch::optim::AdamParamState& state) {
  return on_cpu_in_float(p, p) && on_cpu_in_float(p.grad(), p) && on_cpu_in_float(state.exp_avg(), p) &&
         on_cpu_in_float(state.exp_avg_sq(), p);
}

// One step's constants, in the float arithmetic of the update.
struct AdamStep {
  float b1, b2, rest1, rest2, root_correction2, step_size, eps, decay;

  AdamStep(const torch::optim::AdamOptions& options, int64_t step) {
    const double beta1 = std::get<0>(options.betas());
    const double beta2 = std::get<1>(options.betas());
    const auto t = static_cast<double>(step);
    b1 = static_cast<float>(beta1);
    b2 = static_cast<float>(beta2);
    rest1 = static_cast<float>(1 - beta1);
    rest2 = static_cast<float>(1 - beta2);
    root_correction2 = static_cast<float>(std::sqrt(1 - std::pow(beta2, t)));
    step_size = static_cast<float>(options.lr() / (1 - std::pow(beta1, t)));
    eps = static_cast<float>(options.eps());
    decay = static_cast<float>(options.weight_decay());
  }
};

// Adam's update of n weights, their gradients and moments, in one pass.
HAN_VECTOR_CLONES
void adam_update(float* w, const float* g, float* m, float* v, int64_t n, const AdamStep& s) {
  for (int64_t k = 0; k < n; ++k) {
    const float gk = g[k] + s.decay * w[k];
    m[k] = s.b1 * m[k] + s.rest1 * gk;
    v[k] = s.b2 * v[k] + s.rest2 * gk * gk;
    w[k] -= s.step_size * m[k] / (__builtin_sqrtf(v[k]) / s.root_correction2 + s.eps);
  }
}

// Splits `count` items into one range per thread when they hold enough
// values to pay for starting the threads.
void for_ranges(int64_t count, int64_t values_per_item, int threads,
                const std::function<void(int64_t, int64_t)>& work) {
  constexpr int64_t kValuesPerThread = 1 << 17;
  const auto useful = static_cast<int>(
      std::min<int64_t>(std::max(1, threads), std::max<int64_t>(1, count * values_per_item / kValuesPerThread)));
  run_on_threads(useful, [&](int t) { work(count * t / useful, count * (t + 1) / useful); });
}

// The sum of x[k]^2 in 16 float lanes (so that it vectorises), added up in double.
HAN_VECTOR_CLONES
double sum_of_squares(const float* x, int64_t n) {
  float lanes[16] = {};
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    for (int j = 0; j < 16; ++j) lanes[j] += x[k + j] * x[k + j];
  }
  double total = 0;
  for (float lane : lanes) total += lane;
  for (; k < n; ++k) total += static_cast<double>(x[k]) * x[k];
  return total;
}

// torch::optim::Adam's arithmetic, operation by operation (off the CPU).
void torch_adam_update(torch::Tensor& p, torch::optim::AdamParamState& state,
                       const torch::optim::AdamOptions& options) {
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

}  // namespace

FastAdam::FastAdam(const std::vector<torch::Tensor>& parameters, const torch::optim::AdamOptions& options,
                   torch::Tensor embedding, int threads, bool lazy)
    : torch::optim::Adam(parameters, options),
      embedding_(std::move(embedding)),
      threads_(std::max(1, threads)),
      lazy_(lazy) {}

torch::optim::AdamParamState& FastAdam::state_of(const torch::Tensor& p) {
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

torch::Tensor FastAdam::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    TORCH_CHECK(!options.amsgrad(), "FastAdam has no AMSGrad");
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& state = state_of(p);
      state.step(state.step() + 1);
      if (!plain_floats(p, state)) {
        torch_adam_update(p, state, options);
        continue;
      }
      const AdamStep constants(options, state.step());
      float* w = p.data_ptr<float>();
      const float* g = p.grad().data_ptr<float>();
      float* m = state.exp_avg().data_ptr<float>();
      float* v = state.exp_avg_sq().data_ptr<float>();
      if (rows_set_ && p.is_same(embedding_)) {
        const int64_t dim = p.size(1);
        TORCH_CHECK(rows_.empty() || (rows_.front() >= 0 && rows_.back() < p.size(0)),
                    "FastAdam: embedding rows out of range");
        for_ranges(static_cast<int64_t>(rows_.size()), dim, threads_, [&](int64_t begin, int64_t end) {
          for (int64_t r = begin; r < end; ++r) {
            const int64_t at = static_cast<int64_t>(rows_[static_cast<size_t>(r)]) * dim;
            adam_update(w + at, g + at, m + at, v + at, dim, constants);
          }
        });
      } else {
        for_ranges(p.numel(), 1, threads_, [&](int64_t begin, int64_t end) {
          adam_update(w + begin, g + begin, m + begin, v + begin, end - begin, constants);
        });
      }
    }
  }
  rows_set_ = false;
  return loss;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& parameters,
                                                        const torch::Tensor& embedding, const TrainConfig& config,
                                                        int threads) {
  const auto adam = torch::optim::AdamOptions(config.learning_rate).weight_decay(config.weight_decay);
  if (config.optimizer == "adam" || config.optimizer == "lazy_adam") {
    return std::make_unique<FastAdam>(parameters, adam, embedding, threads, config.optimizer == "lazy_adam");
  }
  return std::make_unique<torch::optim::SGD>(
      parameters,
      torch::optim::SGDOptions(config.learning_rate).momentum(config.momentum).weight_decay(config.weight_decay));
}

double clip_gradient_norm(const std::vector<torch::Tensor>& parameters, const torch::Tensor& embedding,
                          const std::vector<int32_t>& rows, double max_norm, int threads) {
  torch::NoGradGuard no_grad;
  const int64_t dim = embedding.defined() ? embedding.size(1) : 0;
  const auto count = static_cast<int64_t>(rows.size());
  double squares = 0;  // the squared norm of every gradient together
  for (const torch::Tensor& p : parameters) {
    if (!p.grad().defined()) continue;
    if (!p.is_same(embedding)) {
      const double norm = p.grad().norm().item<double>();
      squares += norm * norm;
      continue;
    }
    // Row by row, then added in row order: the same sum for any threads.
    TORCH_CHECK(rows.empty() || (rows.front() >= 0 && rows.back() < p.size(0)), "clipping: rows out of range");
    const float* gradient = p.grad().data_ptr<float>();
    std::vector<double> row_squares(rows.size());
    for_ranges(count, dim, threads, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        row_squares[static_cast<size_t>(r)] =
            sum_of_squares(gradient + static_cast<int64_t>(rows[static_cast<size_t>(r)]) * dim, dim);
      }
    });
    for (double row : row_squares) squares += row;
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
    for_ranges(count, dim, threads, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        float* g = gradient + static_cast<int64_t>(rows[static_cast<size_t>(r)]) * dim;
        for (int64_t k = 0; k < dim; ++k) g[k] *= scale;
      }
    });
  }
  return norm;
}

}  // namespace han
