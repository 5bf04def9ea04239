#include "han/train/engine.h"

#include <algorithm>

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "han/base/parallel.h"
#include "han/kernels/fused.h"

namespace han {

namespace {

// CUDA autocast (float16 where it is safe) on this thread, for one scope.
class CudaAutocast {
 public:
  explicit CudaAutocast(bool enabled) : enabled_(enabled) { set(enabled); }
  ~CudaAutocast() {
    if (!enabled_) return;
    set(false);
    at::autocast::clear_cache();
  }
  CudaAutocast(const CudaAutocast&) = delete;
  CudaAutocast& operator=(const CudaAutocast&) = delete;

 private:
  static void set(bool on) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, on);
#else
    at::autocast::set_enabled(on);
#endif
  }
  bool enabled_;
};

// [documents, labels] float: 1 where a document carries the label.
torch::Tensor multi_hot(const std::vector<const EncodedDocument*>& documents, int64_t labels) {
  torch::Tensor targets = torch::zeros({static_cast<int64_t>(documents.size()), labels}, torch::kFloat);
  auto rows = targets.accessor<float, 2>();
  for (size_t d = 0; d < documents.size(); ++d) {
    for (const int32_t label : documents[d]->targets) rows[static_cast<int64_t>(d)][label] = 1.0f;
  }
  return targets;
}

// Gradient of the whole batch's mean loss (over `total` documents, of which
// `members` are this process's share) through the plain LibTorch modules and
// autograd (train.engine "reference"), computed by `workers` threads over
// contiguous parts of the share and summed in order. With dropout above 0
// the workers share LibTorch's generator, so masks vary between runs.
GradientResult reference_gradients(HierarchicalAttentionNetwork& network,
                                   const std::vector<const EncodedDocument*>& members, int workers,
                                   const std::vector<torch::Tensor>& parameters, double total,
                                   const torch::Device& device, bool autocast, double loss_scale,
                                   const torch::Tensor& class_weights, bool multi_label) {
  if (members.empty()) {
    torch::NoGradGuard no_grad;
    for (const auto& p : parameters) const_cast<torch::Tensor&>(p).mutable_grad() = torch::zeros_like(p);
    return {};
  }
  // One stream of work on a GPU; threads split the share on CPUs.
  workers = device.is_cpu() ? std::max(1, std::min<int>(workers, static_cast<int>(members.size()))) : 1;
  std::vector<std::vector<torch::Tensor>> gradients(static_cast<size_t>(workers));
  std::vector<GradientResult> results(static_cast<size_t>(workers));
  run_on_threads(workers, [&](int w) {
    const size_t begin = members.size() * static_cast<size_t>(w) / static_cast<size_t>(workers);
    const size_t end = members.size() * static_cast<size_t>(w + 1) / static_cast<size_t>(workers);
    Batch batch = make_batch({members.begin() + static_cast<std::ptrdiff_t>(begin),
                              members.begin() + static_cast<std::ptrdiff_t>(end)})
                      .to(device);
    torch::Tensor logits, loss, targets;
    if (multi_label) {
      targets = multi_hot({members.begin() + static_cast<std::ptrdiff_t>(begin),
                           members.begin() + static_cast<std::ptrdiff_t>(end)},
                          network->label_count())
                    .to(device);
    }
    {
      CudaAutocast mixed(autocast);
      logits = network->forward(batch).logits;
      if (multi_label) {
        // Each label's binary cross-entropy, summed over labels and documents.
        auto options = torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kSum);
        loss =
            torch::nn::functional::binary_cross_entropy_with_logits(logits.to(torch::kFloat), targets, options) / total;
      } else {
        // Autocast computes cross-entropy in float32. With weights and kSum it
        // is the sum of each document's loss times its label's weight.
        auto options = torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum);
        if (class_weights.defined()) options.weight(class_weights);
        loss = torch::nn::functional::cross_entropy(logits, batch.labels, options) / total;
      }
    }
    gradients[static_cast<size_t>(w)] = torch::autograd::grad({loss * loss_scale}, parameters, {}, false, false, true);
    // Multi-label: a document counts as right when every label is (logit > 0 against its target).
    const int64_t correct = multi_label ? logits.gt(0).eq(targets.gt(0.5)).all(1).sum().item<int64_t>()
                                        : logits.argmax(1).eq(batch.labels).sum().item<int64_t>();
    results[static_cast<size_t>(w)] = {loss.item<double>() * total, correct};
  });
  GradientResult step;
  for (size_t p = 0; p < parameters.size(); ++p) {
    torch::Tensor sum;
    parameters[p].mutable_grad() = torch::Tensor();
    for (const auto& share : gradients) {
      const auto& g = share[p];
      if (!g.defined()) continue;
      sum = sum.defined() ? sum.add_(g) : g;
    }
    if (sum.defined()) parameters[p].mutable_grad() = sum;
  }
  for (const auto& r : results) {
    step.loss_sum += r.loss_sum;
    step.correct += r.correct;
  }
  return step;
}

// The fused engine's per-thread state, kept from step to step.
struct FusedTrainer {
  std::vector<FusedWorkspace> workspaces;
  std::vector<FusedGradients> gradients;
  std::vector<int32_t> touched_words;  // embedding-gradient rows that are not zero
};

// Gradient of the whole batch's mean loss (over `total` documents; `members`
// are this process's share, starting at `first_document`) through the fused
// kernels (fused.h), on `workers` threads over contiguous parts of the share,
// summed in order: the result does not depend on thread timing. Dropout
// masks depend on `dropout_seed` and each document's place in the whole
// batch, not on threads or ranks.
GradientResult fused_gradients(HierarchicalAttentionNetwork& network,
                               const std::vector<const EncodedDocument*>& members, int workers, FusedTrainer& trainer,
                               uint64_t dropout_seed, double total, int64_t first_document,
                               const std::vector<float>& class_weights, bool multi_label) {
  workers = std::max(1, std::min<int>(workers, static_cast<int>(members.size())));
  const FusedHan fused(network);
  const ParameterTensors& parameters = fused.parameters();
  const bool embedding_trainable = parameters[kEmbedding].requires_grad();
  trainer.workspaces.resize(static_cast<size_t>(workers));
  trainer.gradients.resize(static_cast<size_t>(workers));
  std::vector<FusedStepResult> results(static_cast<size_t>(workers));
  run_on_threads(workers, [&](int w) {
    const size_t begin = members.size() * static_cast<size_t>(w) / static_cast<size_t>(workers);
    const size_t end = members.size() * static_cast<size_t>(w + 1) / static_cast<size_t>(workers);
    FusedTrainOptions options;
    options.loss_scale = 1.0 / total;
    options.class_weights = class_weights.empty() ? nullptr : class_weights.data();
    options.multi_label = multi_label;
    options.embedding_gradient = embedding_trainable;
    options.dropout = network->config().dropout;
    options.dropout_seed = dropout_seed;
    options.first_document = first_document + static_cast<int64_t>(begin);
    auto& gradients = trainer.gradients[static_cast<size_t>(w)];
    gradients.reset(parameters);
    // In parts of bounded tokens, so memory does not follow the longest documents.
    for (const auto& part : split_by_tokens(
             {members.begin() + static_cast<std::ptrdiff_t>(begin), members.begin() + static_cast<std::ptrdiff_t>(end)},
             kMaxTokensPerCall)) {
      const FusedStepResult r =
          fused.train_step(plan_fused_batch(part), trainer.workspaces[static_cast<size_t>(w)], gradients, options);
      results[static_cast<size_t>(w)].loss_sum += r.loss_sum;
      results[static_cast<size_t>(w)].correct += r.correct;
      options.first_document += static_cast<int64_t>(part.size());
    }
  });

  torch::NoGradGuard no_grad;
  for (int k = 0; k < kParameterCount; ++k) {
    const torch::Tensor& p = parameters[static_cast<size_t>(k)];
    if (k == kEmbedding || !p.requires_grad()) continue;
    torch::Tensor& g = const_cast<torch::Tensor&>(p).mutable_grad();
    if (!g.defined()) g = torch::zeros_like(p);
    g.copy_(trainer.gradients[0].dense[static_cast<size_t>(k)]);
    for (int w = 1; w < workers; ++w) g.add_(trainer.gradients[static_cast<size_t>(w)].dense[static_cast<size_t>(k)]);
  }
  if (embedding_trainable) {
    // A dense gradient, as the optimizers expect, kept zero but for the rows
    // of the words the last batch held: clearing those is all a step needs.
    const torch::Tensor& p = parameters[kEmbedding];
    torch::Tensor& g = const_cast<torch::Tensor&>(p).mutable_grad();
    if (!g.defined()) {
      g = torch::zeros_like(p);
      trainer.touched_words.clear();
    }
    const int64_t dim = p.size(1);
    float* rows = g.data_ptr<float>();
    for (int32_t id : trainer.touched_words) std::fill(rows + id * dim, rows + (id + 1) * dim, 0.0f);
    trainer.touched_words.clear();
    for (int w = 0; w < workers; ++w) {
      const auto& share = trainer.gradients[static_cast<size_t>(w)];
      const float* values = share.embedding_rows.data();
      for (size_t i = 0; i < share.embedding_words.size(); ++i) {
        float* row = rows + share.embedding_words[i] * dim;
        const float* add = values + static_cast<int64_t>(i) * dim;
        for (int64_t k = 0; k < dim; ++k) row[k] += add[k];
      }
      trainer.touched_words.insert(trainer.touched_words.end(), share.embedding_words.begin(),
                                   share.embedding_words.end());
    }
  }
  GradientResult step;
  for (const auto& r : results) {
    step.loss_sum += r.loss_sum;
    step.correct += r.correct;
  }
  return step;
}

class ReferenceEngine final : public GradientEngine {
 public:
  ReferenceEngine(HierarchicalAttentionNetwork network, std::vector<torch::Tensor> trainable,
                  const EngineOptions& options)
      : network_(std::move(network)), trainable_(std::move(trainable)), options_(options) {
    if (!options.class_weights.empty()) {
      class_weights_ = torch::tensor(options.class_weights, torch::kFloat32).to(options.device);
    }
  }

  GradientResult gradients(const BatchShare& share) override {
    return reference_gradients(network_, share.documents, options_.workers, trainable_, share.batch_size,
                               options_.device, options_.autocast, share.loss_scale, class_weights_,
                               options_.multi_label);
  }
  // Padded batches look the PAD row up, so LibTorch's embedding gives it a gradient.
  bool pad_row_trains() const override { return true; }

 private:
  HierarchicalAttentionNetwork network_;
  std::vector<torch::Tensor> trainable_;
  EngineOptions options_;
  torch::Tensor class_weights_;  // undefined: all 1
};

class FusedEngine final : public GradientEngine {
 public:
  FusedEngine(HierarchicalAttentionNetwork network, const EngineOptions& options)
      : network_(std::move(network)),
        workers_(options.workers),
        class_weights_(options.class_weights),
        multi_label_(options.multi_label) {}

  GradientResult gradients(const BatchShare& share) override {
    return fused_gradients(network_, share.documents, workers_, state_, share.dropout_seed, share.batch_size,
                           share.first_document, class_weights_, multi_label_);
  }
  bool pad_row_trains() const override { return false; }
  std::vector<int32_t>* touched_embedding_rows() override { return &state_.touched_words; }
  void release_buffers() override {
    state_.workspaces.clear();
    for (auto& g : state_.gradients) {
      g.embedding_words = {};
      g.embedding_rows = {};
    }
  }

 private:
  HierarchicalAttentionNetwork network_;
  int workers_;
  std::vector<float> class_weights_;
  bool multi_label_;
  FusedTrainer state_;
};

}  // namespace

Engine effective_engine(Engine requested, const torch::Device& device) {
  return device.is_cpu() ? requested : Engine::kReference;
}

std::unique_ptr<GradientEngine> make_gradient_engine(HierarchicalAttentionNetwork network,
                                                     std::vector<torch::Tensor> trainable,
                                                     const EngineOptions& options) {
  switch (effective_engine(options.engine, options.device)) {
    case Engine::kFused:
      return std::make_unique<FusedEngine>(std::move(network), options);
    case Engine::kReference:
      break;
  }
  return std::make_unique<ReferenceEngine>(std::move(network), std::move(trainable), options);
}

}  // namespace han
