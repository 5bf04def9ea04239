// BatchTrainer: one optimisation step at a time (train.h), and what a step
// needs: the optimizer, loss scaling, word and sentence dropout, and the
// ranks' gradient exchange. The gradients come from a GradientEngine.
#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "han/base/memory.h"
#include "han/base/random.h"
#include "han/dist/distributed.h"
#include "han/train/engine.h"
#include "han/train/optimizer.h"
#include "han/train/train.h"

namespace han {

namespace {

// Each step's dropout masks come from the run's seed and the step number, so
// a resumed run draws the same masks as an uninterrupted one.
uint64_t dropout_seed(uint64_t seed, uint64_t step) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ULL + step * 0xbf58476d1ce4e5b9ULL + 0x94d049bb133111ebULL;
  z = (z ^ (z >> 31)) * 0xd6e8feb86659fd93ULL;
  return z ^ (z >> 32);
}

}  // namespace

struct BatchTrainer::State {
  HierarchicalAttentionNetwork network{nullptr};
  Config config;
  ExecutionOptions execution;
  int threads = 1;
  std::vector<torch::Tensor> parameters;  // those that train
  torch::Tensor embedding;                // the word embedding, when it trains
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<GradientEngine> engine;
  LossScaler scaler;
};

LossScaler::LossScaler(double initial_scale, int growth_interval)
    : scale_(initial_scale), growth_interval_(std::max(1, growth_interval)) {}

bool LossScaler::unscale(const std::vector<torch::Tensor>& parameters) const {
  torch::NoGradGuard no_grad;
  bool finite = true;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    const torch::Tensor& g = p.grad();
    g.div_(scale_);
    finite = finite && torch::isfinite(g).all().item<bool>();
  }
  return finite;
}

void LossScaler::update(bool gradients_finite) {
  if (!gradients_finite) {
    scale_ = std::max(1.0, scale_ / 2);
    good_steps_ = 0;
  } else if (++good_steps_ >= growth_interval_) {
    scale_ = std::min(scale_ * 2, 16777216.0);  // 2^24
    good_steps_ = 0;
  }
}

BatchTrainer::BatchTrainer(HierarchicalAttentionNetwork network, const Config& config, int threads,
                           const ExecutionOptions& execution, std::vector<float> class_weights)
    : state_(std::make_unique<State>()) {
  state_->network = std::move(network);
  state_->config = config;
  state_->execution = execution;
  state_->threads = std::max(1, threads);
  if (execution.mixed_precision && !execution.device.is_cuda()) {
    throw UsageError("mixed precision (--amp) needs a CUDA device (--device cuda)");
  }
  for (const auto& p : state_->network->parameters())
    if (p.requires_grad()) state_->parameters.push_back(p);
  const torch::Tensor& embedding = state_->network->word_embedding()->weight;
  if (embedding.requires_grad()) state_->embedding = embedding;
  state_->optimizer = make_optimizer(state_->parameters, state_->embedding, config.train, threads);
  state_->engine =
      make_gradient_engine(state_->network, state_->parameters,
                           {config.train.engine, std::max(1, threads), execution.device, execution.mixed_precision,
                            std::move(class_weights), config.model.multi_label});
}

BatchTrainer::~BatchTrainer() = default;

namespace {

// The embedding rows a share's gradient can touch: its words, and PAD when
// the engine gives PAD a gradient. Sorted, each once.
std::vector<int32_t> rows_used(const std::vector<const EncodedDocument*>& share, bool pad_row_trains) {
  std::vector<int32_t> rows;
  for (const EncodedDocument* d : share) rows.insert(rows.end(), d->word_ids.begin(), d->word_ids.end());
  if (pad_row_trains) rows.push_back(Vocabulary::kPad);
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

// Sums every rank's gradient of its share, so each rank applies the same
// step. Three collectives a step, whatever the model's size: the ranks' loss,
// correct count, stop flag and embedding-row count; the embedding rows each
// share touched; then one flat bucket of every dense gradient plus the union
// of those rows (the rest of the embedding gradient is zero everywhere).
void reduce_gradients(Communicator& group, const std::vector<torch::Tensor>& parameters, const torch::Tensor& embedding,
                      bool pad_row_trains, const std::vector<const EncodedDocument*>& share, BatchTrainer::Step& step,
                      std::vector<int32_t>& touched_words) {
  torch::NoGradGuard no_grad;
  std::vector<int32_t> rows;
  if (embedding.defined()) rows = rows_used(share, pad_row_trains);
  const torch::Tensor stats = torch::tensor(
      {step.loss_sum, static_cast<double>(step.correct), step.stop ? 1.0 : 0.0, static_cast<double>(rows.size())},
      torch::kFloat64);
  step.loss_sum = 0;
  step.correct = 0;
  int64_t most_rows = 0;
  for (const torch::Tensor& rank : group.all_gather(stats, "sharing the step's loss")) {
    const double* values = rank.data_ptr<double>();
    step.loss_sum += values[0];
    step.correct += static_cast<int64_t>(values[1]);
    step.stop = step.stop || values[2] > 0;
    most_rows = std::max(most_rows, static_cast<int64_t>(values[3]));
  }

  torch::Tensor union_rows;  // [rows] int64, sorted: the embedding rows any share touched
  if (embedding.defined()) {
    torch::Tensor mine = torch::full({most_rows}, -1, torch::kInt64);
    std::copy(rows.begin(), rows.end(), mine.data_ptr<int64_t>());
    const torch::Tensor all = torch::cat(group.all_gather(mine, "sharing the embedding rows"));
    union_rows = std::get<0>(torch::_unique(all.masked_select(all.ge(0)), /*sorted=*/true));
  }

  std::vector<torch::Tensor> parts;
  for (const torch::Tensor& p : parameters) {
    torch::Tensor& g = const_cast<torch::Tensor&>(p).mutable_grad();
    if (!g.defined()) g = torch::zeros_like(p);
    if (!p.is_same(embedding)) parts.push_back(g.reshape(-1));
  }
  torch::Tensor embedding_rows;  // [union rows, dim]
  torch::Tensor device_rows;     // union_rows where the embedding lives
  if (embedding.defined()) {
    device_rows = union_rows.to(embedding.device());
    embedding_rows = embedding.grad().index_select(0, device_rows);
    parts.push_back(embedding_rows.reshape(-1));
  }
  torch::Tensor bucket = torch::cat(parts);
  group.all_reduce_sum(bucket, "summing the gradients");

  int64_t offset = 0;
  for (const torch::Tensor& p : parameters) {
    if (p.is_same(embedding)) continue;
    const torch::Tensor& g = p.grad();
    g.view(-1).copy_(bucket.narrow(0, offset, g.numel()));
    offset += g.numel();
  }
  if (embedding.defined()) {
    const int64_t dim = embedding.size(1);
    embedding.grad().index_copy_(0, device_rows, bucket.narrow(0, offset, union_rows.numel() * dim).view({-1, dim}));
    touched_words.assign(union_rows.data_ptr<int64_t>(), union_rows.data_ptr<int64_t>() + union_rows.numel());
  }
}

}  // namespace

EncodedDocument drop_words(EncodedDocument document, double rate, uint64_t seed) {
  if (rate <= 0) return document;
  SplitMix64 rng{seed};
  const auto threshold = static_cast<float>(rate);
  for (int32_t& id : document.word_ids) {
    if (rng.uniform() < threshold) id = Vocabulary::kUnk;
  }
  return document;
}

EncodedDocument drop_sentences(const EncodedDocument& document, double rate, uint64_t seed) {
  const size_t sentences = document.sentence_lengths.size();
  if (rate <= 0 || sentences < 2) return document;
  SplitMix64 rng{seed};
  const auto threshold = static_cast<float>(rate);
  std::vector<bool> keep(sentences);
  size_t kept = 0;
  for (size_t i = 0; i < sentences; ++i) {
    keep[i] = rng.uniform() >= threshold;
    kept += keep[i] ? 1 : 0;
  }
  if (kept == 0) keep[rng.below(sentences)] = true;  // a document is never empty
  EncodedDocument dropped;
  dropped.label = document.label;
  dropped.targets = document.targets;  // a multi-label document keeps every label
  size_t offset = 0;
  for (size_t i = 0; i < sentences; ++i) {
    const auto length = static_cast<size_t>(document.sentence_lengths[i]);
    if (keep[i]) {
      dropped.sentence_lengths.push_back(document.sentence_lengths[i]);
      dropped.word_ids.insert(dropped.word_ids.end(), document.word_ids.begin() + static_cast<std::ptrdiff_t>(offset),
                              document.word_ids.begin() + static_cast<std::ptrdiff_t>(offset + length));
    }
    offset += length;
  }
  return dropped;
}

BatchTrainer::Step BatchTrainer::step(const std::vector<const EncodedDocument*>& batch, int64_t step_number,
                                      bool stop_requested) {
  State& s = *state_;
  s.network->train();
  Communicator* group = s.execution.group;
  const size_t ranks = group ? static_cast<size_t>(group->size()) : 1;
  const size_t rank = group ? static_cast<size_t>(group->rank()) : 0;
  const size_t begin = batch.size() * rank / ranks;
  const size_t end = batch.size() * (rank + 1) / ranks;
  std::vector<const EncodedDocument*> share(batch.begin() + static_cast<std::ptrdiff_t>(begin),
                                            batch.begin() + static_cast<std::ptrdiff_t>(end));
  std::vector<EncodedDocument> dropped;  // word and sentence dropout's copies, which `share` points to
  const double word_rate = s.config.train.word_dropout;
  const double sentence_rate = s.config.train.sentence_dropout;
  if (word_rate > 0 || sentence_rate > 0) {
    // Their own streams, apart from the dropout masks of the same step.
    const uint64_t seed = dropout_seed(s.config.train.seed ^ 0x5bd1e9955bd1e995ULL, static_cast<uint64_t>(step_number));
    dropped.reserve(share.size());
    for (size_t i = 0; i < share.size(); ++i) {
      const uint64_t place_seed =
          seed ^ (static_cast<uint64_t>(begin + i) * 0xd1b54a32d192ed03ULL);  // place in the whole batch
      EncodedDocument document =
          sentence_rate > 0 ? drop_sentences(*share[i], sentence_rate, place_seed ^ 0x2545f4914f6cdd1dULL) : *share[i];
      dropped.push_back(drop_words(std::move(document), word_rate, place_seed));  // one copy per document
      share[i] = &dropped.back();
    }
  }
  const auto total = static_cast<double>(batch.size());
  // Both engines set every gradient afresh, so no zero_grad().
  const GradientResult gradients = s.engine->gradients(
      {share, total, static_cast<int64_t>(begin), dropout_seed(s.config.train.seed, static_cast<uint64_t>(step_number)),
       s.execution.mixed_precision ? s.scaler.scale() : 1.0});
  Step result{gradients.loss_sum, gradients.correct, false, stop_requested};
  // The embedding rows whose gradient may not be zero: clipping and Adam visit only those.
  std::vector<int32_t> rows;
  if (group) {
    reduce_gradients(*group, s.parameters, s.embedding, s.engine->pad_row_trains(), share, result, rows);
    // The fused engine clears only the rows it knows are set.
    if (std::vector<int32_t>* touched = s.engine->touched_embedding_rows()) *touched = rows;
  } else if (s.embedding.defined()) {
    rows = rows_used(share, s.engine->pad_row_trains());
  }
  if (!std::isfinite(result.loss_sum)) return result;
  if (s.execution.mixed_precision) {
    // Every rank holds the same summed gradients, so all skip or step together.
    const bool finite = s.scaler.unscale(s.parameters);
    s.scaler.update(finite);
    if (!finite) return result;  // an overflow: skipped, not a divergence
  }
  const bool sparse_rows = s.embedding.defined() && s.embedding.is_cpu();
  if (s.config.train.clip_norm > 0) {
    if (sparse_rows) {
      clip_gradient_norm(s.parameters, s.embedding, rows, s.config.train.clip_norm, s.threads);
    } else {
      torch::nn::utils::clip_grad_norm_(s.parameters, s.config.train.clip_norm);
    }
  }
  if (auto* adam = dynamic_cast<FastAdam*>(s.optimizer.get()); adam && sparse_rows) adam->set_rows(std::move(rows));
  s.optimizer->step();
  result.applied = true;
  return result;
}

void BatchTrainer::release_buffers() {
  state_->engine->release_buffers();
  release_free_memory();
}

torch::optim::Optimizer& BatchTrainer::optimizer() { return *state_->optimizer; }
const std::vector<torch::Tensor>& BatchTrainer::parameters() const { return state_->parameters; }

}  // namespace han
