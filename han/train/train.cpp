#include "han/train/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "han/base/bytes.h"
#include "han/base/error.h"
#include "han/base/file_io.h"
#include "han/base/hash.h"
#include "han/base/memory.h"
#include "han/base/parallel.h"
#include "han/base/random.h"
#include "han/dist/distributed.h"
#include "han/embed/word2vec.h"
#include "han/infer/infer.h"
#include "han/kernels/fused.h"
#include "han/model/model.h"
#include "han/train/checkpoint.h"
#include "han/train/documents.h"
#include "han/train/engine.h"

namespace han {

nlohmann::json training_record(const TrainingReport& report) {
  int epochs = 0;
  for (const EpochSummary& e : report.epochs) epochs += !e.refit;
  nlohmann::json record = {{"documents", report.train_documents},
                           {"validation_documents", report.valid_documents},
                           {"epochs", epochs},
                           {"best_epoch", report.best_epoch},
                           {"steps", report.steps}};
  if (report.best_epoch >= 1 && static_cast<size_t>(report.best_epoch) <= report.epochs.size()) {
    const EpochSummary& best = report.epochs[static_cast<size_t>(report.best_epoch - 1)];
    if (best.validated) {
      record[best.multi_label ? "validation_micro_f1" : "validation_accuracy"] = best.valid_accuracy;
      record["validation_macro_f1"] = best.valid_macro_f1;
    }
  }
  if (report.refit_epochs > 0) {
    record["refit_epochs"] = report.refit_epochs;
    record["refit_documents"] = report.refit_documents;
  }
  if (report.unlabeled_documents > 0) {
    record["unlabeled_documents"] = report.unlabeled_documents;
    record["unlabeled_tokens"] = report.unlabeled_tokens;
  }
  // Nothing timed and nothing of how the run went (a resume): the same
  // command and seed write the same model file.
  return record;
}

nlohmann::json to_json(const EpochSummary& e) {
  nlohmann::json j = {
      {"epoch", e.epoch},     {"train_loss", e.train_loss},           {"train_accuracy", e.train_accuracy},
      {"seconds", e.seconds}, {"docs_per_second", e.docs_per_second}, {"learning_rate", e.learning_rate},
      {"best", e.best}};
  if (e.refit) j["refit"] = true;
  if (e.validated && e.multi_label) {
    j["valid_loss"] = e.valid_loss;
    j["valid_micro_f1"] = e.valid_accuracy;
    j["valid_macro_f1"] = e.valid_macro_f1;
  } else if (e.validated) {
    j["valid_loss"] = e.valid_loss;
    j["valid_accuracy"] = e.valid_accuracy;
    j["valid_macro_f1"] = e.valid_macro_f1;
  }
  if (e.multi_label) {
    j["multi_label"] = true;
    j["train_exact"] = e.train_accuracy;  // documents whose every label was right
    j.erase("train_accuracy");
  }
  return j;
}

std::vector<float> class_weights_for(const std::string& setting, const LabelSet& labels,
                                     const std::vector<int64_t>& counts) {
  const auto n = static_cast<size_t>(labels.size());
  if (setting == "none") return {};
  std::vector<float> weights(n, 1.0f);
  if (setting == "balanced") {
    const int64_t documents = std::accumulate(counts.begin(), counts.end(), int64_t{0});
    for (size_t k = 0; k < n; ++k) {
      if (counts[k] > 0) {
        weights[k] = static_cast<float>(static_cast<double>(documents) / static_cast<double>(n * counts[k]));
      }
    }
    return weights;
  }
  std::error_code ec;
  std::ifstream in(setting);
  if (std::filesystem::is_directory(setting, ec) || !in) {
    throw InputError(
        fmt::format("train.class_weights: cannot open '{}': give none, balanced or a JSON file like "
                    "{{\"spam\": 3}}",
                    setting));
  }
  nlohmann::json given;
  try {
    given = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(
        fmt::format("{}: not JSON ({}); class weights are an object like {{\"spam\": 3}}", setting, e.what()));
  }
  if (!given.is_object())
    throw InputError(fmt::format("{}: class weights must be an object like {{\"spam\": 3}}", setting));
  for (const auto& [label, value] : given.items()) {
    const int64_t id = labels.id(label);
    if (id < 0) {
      throw InputError(fmt::format("{}: label '{}' is not in the training data (its labels: {})", setting, label,
                                   fmt::join(labels.names(), ", ")));
    }
    // Checked as a float: 1e39 is a finite double but not a finite float.
    if (!value.is_number() || !std::isfinite(value.get<float>()) || value.get<double>() < 0) {
      throw InputError(fmt::format("{}: the weight of '{}' must be a finite number of 0 or more, found {}", setting,
                                   label, value.dump()));
    }
    weights[static_cast<size_t>(id)] = value.get<float>();
  }
  if (std::all_of(weights.begin(), weights.end(), [](float w) { return w == 0; })) {
    throw InputError(fmt::format("{}: every class weighs 0, so training would learn nothing", setting));
  }
  return weights;
}

namespace {

using Clock = std::chrono::steady_clock;

// The swapped-fields check: from this many documents, more than half with a
// label of their own, or fewer than kCountedDistinctTexts texts, stop training.
constexpr int64_t kFieldCheckDocuments = 20;
constexpr int64_t kFewDistinctTextsDocuments = 100;

// The first 40 bytes of a label or text, for a message, not cutting a UTF-8 character.
std::string excerpt_of(const std::string& text) {
  size_t n = std::min<size_t>(40, text.size());
  while (n > 0 && n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return n < text.size() ? text.substr(0, n) + "..." : text;
}

// Text read from the label field, or labels from the text field, make a
// corpus of unique labels or of a handful of texts: stop before training on it.
void check_fields_not_swapped(const TokenizedCorpus& corpus) {
  const int64_t documents = document_count(corpus);
  std::vector<int64_t> per_label(corpus.labels.size(), 0);
  int64_t first = -2;  // the first document's label
  for_each_outline(corpus, [&](const DocumentOutline& d) {
    if (first == -2) first = d.label;
    if (d.label >= 0) ++per_label[static_cast<size_t>(d.label)];
  });
  const auto own = std::count(per_label.begin(), per_label.end(), int64_t{1});
  const char* hint = "are the text and label fields swapped? Name them with --text-field and --label-field";
  if (documents >= kFieldCheckDocuments && 2 * own > documents) {
    throw InputError(fmt::format("{}: {} of {} documents have a label of their own (e.g. '{}'): {}", corpus.path, own,
                                 documents, first >= 0 ? excerpt_of(corpus.labels[static_cast<size_t>(first)]) : "",
                                 hint));
  }
  if (documents >= kFewDistinctTextsDocuments && corpus.distinct_texts < kCountedDistinctTexts) {
    throw InputError(fmt::format("{}: {} documents hold only {} distinct texts (e.g. '{}'): {}", corpus.path, documents,
                                 corpus.distinct_texts, excerpt_of(corpus.first_text), hint));
  }
}

// Classes too small to learn, or to judge on the validation split: warned about.
constexpr int64_t kFewTrainingDocuments = 10;
constexpr int64_t kFewValidationDocuments = 2;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Stratified by label and seeded: each label gives up the same share. With
// keep_small_whole, labels of fewer than kFewTrainingDocuments documents give
// up none: their one validation document would judge nothing, and training
// needs them all. (Multi-label models stratify by each document's first label,
// which says little of how rare its other labels are: they do not ask it.)
std::pair<std::vector<size_t>, std::vector<size_t>> split_validation(const std::vector<int64_t>& labels,
                                                                     double fraction, uint64_t seed,
                                                                     bool keep_small_whole) {
  std::map<int64_t, std::vector<size_t>> by_label;
  for (size_t i = 0; i < labels.size(); ++i) by_label[labels[i]].push_back(i);
  std::mt19937_64 rng(seed ^ 0x5eed5eedULL);
  std::vector<size_t> train, valid;
  for (auto& [label, indices] : by_label) {
    std::shuffle(indices.begin(), indices.end(), rng);
    auto held = static_cast<size_t>(std::llround(fraction * static_cast<double>(indices.size())));
    if (fraction > 0 && held == 0 && indices.size() > 1) held = 1;
    if (keep_small_whole && static_cast<int64_t>(indices.size()) < kFewTrainingDocuments) held = 0;
    valid.insert(valid.end(), indices.begin(), indices.begin() + static_cast<std::ptrdiff_t>(held));
    train.insert(train.end(), indices.begin() + static_cast<std::ptrdiff_t>(held), indices.end());
  }
  std::sort(train.begin(), train.end());
  std::sort(valid.begin(), valid.end());
  return {train, valid};
}

struct Scores {
  double loss = 0;
  std::vector<int64_t> gold, predicted;
  // Multi-label models: each document's labels and sigmoid probabilities.
  std::vector<std::vector<int32_t>> targets;
  std::vector<std::vector<float>> probabilities;
};

// One document's binary cross-entropies, summed over labels, and its sigmoid probabilities.
double add_multilabel(const float* z, const EncodedDocument& document, int64_t labels, Scores& scores) {
  std::vector<float> p(static_cast<size_t>(labels));
  double loss = 0;
  for (int64_t k = 0; k < labels; ++k) {
    const double x = z[k];
    const bool gold = std::find(document.targets.begin(), document.targets.end(), k) != document.targets.end();
    // log(1 + exp(-|x|)) + max(x, 0) - x * y, stable for any x.
    loss += std::log1p(std::exp(-std::abs(x))) + std::max(x, 0.0) - (gold ? x : 0.0);
    p[static_cast<size_t>(k)] = static_cast<float>(1.0 / (1.0 + std::exp(-x)));
  }
  scores.targets.push_back(document.targets);
  scores.probabilities.push_back(std::move(p));
  return loss;
}

// Adds the scores of `documents` to `scores`, the loss summed; `done`
// counts them. The loss is weighed by `class_weights` (empty: all 1), as
// training weighs it.
// `fused` runs them on the CPU; null: LibTorch's modules on `device`.
void add_scores(HierarchicalAttentionNetwork& network, const FusedHan* fused,
                const std::vector<EncodedDocument>& documents, int batch_size, int threads, const torch::Device& device,
                const std::vector<float>& class_weights, const std::function<void(int64_t)>& on_done, int64_t& done,
                Scores& scores) {
  const int64_t labels = network->label_count();
  auto add = [&](const float* z, const EncodedDocument& document) {
    const int64_t gold = document.label;
    const auto [best, sum] = summarize_logits(z, labels);
    if (!document.targets.empty()) {
      scores.loss += add_multilabel(z, document, labels, scores);
      scores.gold.push_back(gold);
      scores.predicted.push_back(best);
      return;
    }
    const double weight = class_weights.empty() ? 1.0 : class_weights[static_cast<size_t>(gold)];
    scores.loss += weight * (std::log(sum) - static_cast<double>(z[gold] - z[best]));
    scores.gold.push_back(gold);
    scores.predicted.push_back(best);
  };
  if (fused) {
    forward_batches(*fused, documents, batch_size, threads, false,
                    [&](const std::vector<int64_t>& indices, const FusedBatch&, const FusedOutput& output) {
                      for (size_t k = 0; k < indices.size(); ++k) {
                        add(output.logits.data() + static_cast<int64_t>(k) * labels,
                            documents[static_cast<size_t>(indices[k])]);
                      }
                      done += static_cast<int64_t>(indices.size());
                      if (on_done) on_done(done);
                    });
  } else {
    // The fused kernels are CPU code: on a GPU the LibTorch modules run.
    for (const auto& indices : bucket_batches(documents, batch_size, nullptr)) {
      std::vector<const EncodedDocument*> members;
      members.reserve(indices.size());
      for (int64_t i : indices) members.push_back(&documents[static_cast<size_t>(i)]);
      const torch::Tensor logits =
          network->forward(make_batch(members).to(device)).logits.to(torch::kCPU, torch::kFloat).contiguous();
      for (size_t k = 0; k < indices.size(); ++k) {
        add(logits.data_ptr<float>() + static_cast<int64_t>(k) * labels, *members[k]);
      }
      done += static_cast<int64_t>(indices.size());
      if (on_done) on_done(done);
    }
  }
}

// Documents scored at a time: a validation split read from a prepared file
// is never held whole.
constexpr int64_t kScoredAtOnce = 8192;

// The mean loss and each document's prediction. The split is bucketed
// whole, then scored in chunks of whole batches: the batches, and the order
// the loss adds up in, are those of the split held in memory at once.
Scores score(HierarchicalAttentionNetwork& network, const DocumentSet& documents, int batch_size, int threads,
             const torch::Device& device, const std::vector<float>& class_weights,
             const std::function<void(int64_t)>& on_done) {
  Scores scores;
  c10::InferenceMode inference;
  network->eval();
  std::optional<FusedHan> fused;
  if (device.is_cpu()) fused.emplace(network, /*vocabulary_table=*/true);
  // As bucket_batches orders them: by sentence count, ties in split order.
  const std::vector<int32_t> sentences = documents.sentence_counts();
  std::vector<int64_t> order(sentences.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return sentences[static_cast<size_t>(a)] < sentences[static_cast<size_t>(b)];
  });
  const int64_t batch = std::max(1, batch_size), chunk = (kScoredAtOnce + batch - 1) / batch * batch;
  int64_t done = 0;
  std::vector<EncodedDocument> encoded;
  for (int64_t begin = 0; begin < documents.size(); begin += chunk) {
    const auto first = order.begin() + begin;
    documents.fetch({first, first + std::min(chunk, documents.size() - begin)}, encoded);
    add_scores(network, fused ? &*fused : nullptr, encoded, batch_size, threads, device, class_weights, on_done, done,
               scores);
  }
  scores.loss = documents.empty() ? 0 : scores.loss / static_cast<double>(documents.size());
  return scores;
}

}  // namespace

namespace {

std::vector<torch::Tensor> snapshot(HierarchicalAttentionNetwork& network) {
  std::vector<torch::Tensor> copy;
  for (const auto& p : network->parameters()) copy.push_back(p.detach().clone());
  return copy;
}

void restore(HierarchicalAttentionNetwork& network, const std::vector<torch::Tensor>& copy) {
  torch::NoGradGuard no_grad;
  auto parameters = network->parameters();
  for (size_t i = 0; i < parameters.size(); ++i) parameters[i].copy_(copy[i]);
}

// average = d * average + (1 - d) * weights, after `steps` applied steps. The
// decay starts low, (1 + t) / (10 + t), so the first weights, still random,
// are soon forgotten. Frozen parameters (pretrained vectors) are their own
// average: skipping them saves two passes over the embedding a step.
void update_average(std::vector<torch::Tensor>& average, HierarchicalAttentionNetwork& network, double decay,
                    int64_t steps) {
  torch::NoGradGuard no_grad;
  const double d = std::min(decay, (1.0 + static_cast<double>(steps)) / (10.0 + static_cast<double>(steps)));
  const auto parameters = network->parameters();
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (parameters[i].requires_grad()) average[i].mul_(d).add_(parameters[i], 1.0 - d);
  }
}

}  // namespace

namespace {

// One training run, stage by stage: train_model() calls prepare_data,
// init_model, restore_checkpoint, then run, which repeats run_epoch and
// validate. The stages keep the order of every random draw, so a run is
// reproducible from its seed and a resumed run bit-identical.
class Trainer {
 public:
  Trainer(const Config& config, const TrainCallbacks& callbacks, const CheckpointOptions& checkpoints,
          const ExecutionOptions& execution)
      : config_(config),
        callbacks_(callbacks),
        checkpoints_(checkpoints),
        started_(Clock::now()),
        threads_(configure_threads(config.train.threads)),
        group_(execution.group),
        lead_(!group_ || group_->rank() == 0),
        execution_(execution),
        device_(execution.device),
        rng_(config.train.seed) {
    torch::manual_seed(config.train.seed);
  }

  // Labels, tokenizing, the validation split, empty documents, the
  // vocabulary; leaves both splits encoded.
  void prepare_data(TokenizedCorpus& train, TokenizedCorpus* valid);
  // A fresh model (pretrained vectors in it) or the checkpoint's, the same
  // weights on every rank, on the device, with its optimizer.
  void init_model(const std::string& train_path);
  // Where a resumed run stopped: progress, best and averaged weights, the
  // optimizer and the generators. A fresh run records its shuffle state.
  void restore_checkpoint();
  // Epochs until the last, an early stop or a stop request. Returns the best
  // epoch's weights (the current ones when stopped on request) on the CPU.
  Model run(TrainingReport* report_out);

 private:
  enum class EpochEnd { Finished, Interrupted };
  // train.max_steps batches are done: the epoch ends there, and is the last.
  bool steps_over() const { return config_.train.max_steps > 0 && state_.global_step >= config_.train.max_steps; }
  // The epoch's remaining batches; Interrupted after a stop request, once a checkpoint holds the state.
  EpochEnd run_epoch(Clock::time_point epoch_start);
  // Loss, accuracy and macro-F1 of the validation split into `summary`, summed over the ranks.
  void validate(EpochSummary& summary);
  void agree_on_validation(EpochSummary& summary);
  // Keeps the weights when the epoch is the best so far; counts epochs without gain.
  void keep_if_best(EpochSummary& summary);
  // Higher is better: the validation loss counts negated.
  double selection_score(const EpochSummary& summary) const {
    const std::string& by = config_.train.select_by;
    return by == "macro_f1" ? summary.valid_macro_f1 : by == "loss" ? -summary.valid_loss : summary.valid_accuracy;
  }
  // The finished epoch's training figures (validation comes after).
  EpochSummary training_summary(int epoch, Clock::time_point epoch_start) const;
  // Resets the epoch's counters and records the next epoch's shuffle state.
  void start_next_epoch(bool stop_early);
  void save_checkpoint();
  Model finish(TrainingReport* report_out, bool interrupted);
  // train.refit: whether to train again on all the training data; a note says why not.
  bool refit_wanted() const;
  // A fresh model trained on the training and held-out documents together
  // for the best epoch's count of epochs; its last (averaged) weights.
  Model refit(TrainingReport* report_out);
  // The refit's fresh model, optimizer and state, and its training set.
  void start_refit();
  void starting_weights(bool warm);
  void freeze_vectors_if_asked(bool warm);
  void tune_thresholds_on_validation();
  void start_from_label_frequencies();

  void hold_out_validation();
  // Empty documents teach nothing; they are counted, not silently lost.
  void drop_empty_documents(const std::string& train_path);
  void build_vocabulary();
  // train.class_weights, and a warning naming the classes too small to learn or to judge.
  void weigh_classes();
  void load_pretrained_vectors();
  // train.unlabeled's text, tokenized as the training text is, into unlabeled_.
  void read_unlabeled_text();
  void pretrain_vectors();
  // The vectors from the cache (checkpoints.cache_folder) when it holds this text's, else trained (and cached).
  WordVectors cached_or_pretrained(const EncodedText& text, const Word2VecOptions& options, Clock::time_point start);
  void check_same_corpus_on_every_rank(const std::string& train_path);
  void broadcast_initial_weights();
  void note(const std::string& text) const {
    if (callbacks_.on_note) callbacks_.on_note(text);
  }
  // One progress report; docs/s counts from `since`, the start of the stage.
  void progress(TrainingProgress::Stage stage, int epoch, int64_t done, int64_t total, double loss,
                Clock::time_point since) const;
  bool stop_requested() const { return checkpoints_.stop && checkpoints_.stop->load(); }
  // Ranks stop together, at the same batch, or their collectives would not match.
  bool stop_agreed() const;
  // train.time_budget: would `seconds` more (another epoch as long as the last) end past it? Ranks agree.
  bool out_of_time(double seconds) const;

  const Config& config_;
  const TrainCallbacks& callbacks_;
  const CheckpointOptions& checkpoints_;
  const Clock::time_point started_;
  const int threads_;  // each batch is split between them; each runs LibTorch single-threaded
  Communicator* const group_;
  const bool lead_;  // writes the checkpoints
  const ExecutionOptions& execution_;
  const torch::Device device_;

  TrainingReport report_;
  FormTable forms_;        // word forms of both splits
  EncodedText unlabeled_;  // train.unlabeled: its own words (min count 1), every token
  LabelSet labels_;
  Vocabulary vocabulary_;
  std::shared_ptr<DocumentSource> train_source_, valid_source_;
  DocumentSet train_set_, valid_set_;
  bool held_out_ = false;             // valid_set_ was held out of the training corpus (no --valid)
  bool refitting_ = false;            // train.refit's run: no validation, no checkpoints
  DocumentSet valid_part_;            // this rank's share of valid_set_ in a data-parallel run
  std::vector<float> class_weights_;  // empty: every label weighs 1
  Model model_;
  std::unique_ptr<BatchTrainer> trainer_;
  std::mt19937_64 rng_;                                             // bucketing and batch order
  at::Generator generator_ = at::detail::getDefaultCPUGenerator();  // LibTorch's, for the reference engine's dropout
  TrainingState state_;
  std::vector<torch::Tensor> best_weights_;
  std::vector<torch::Tensor> averaged_;  // train.average's moving average of every parameter
};

void Trainer::progress(TrainingProgress::Stage stage, int epoch, int64_t done, int64_t total, double loss,
                       Clock::time_point since) const {
  if (!callbacks_.on_progress) return;
  TrainingProgress p;
  p.stage = stage;
  p.epoch = epoch;
  p.epochs = refitting_ ? report_.refit_epochs : config_.train.epochs;
  p.done = done;
  p.total = total;
  p.loss = loss;
  p.docs_per_second = static_cast<double>(done) / std::max(1e-9, seconds_since(since));
  callbacks_.on_progress(p);
}

bool Trainer::stop_agreed() const {
  if (!group_) return stop_requested();
  torch::Tensor flag = torch::tensor({stop_requested() ? 1.0 : 0.0}, torch::kFloat64);
  group_->all_reduce_sum(flag, "agreeing to stop");
  return flag.item<double>() > 0;
}

bool Trainer::out_of_time(double seconds) const {
  const double budget = config_.train.time_budget;
  const bool over = budget > 0 && seconds_since(started_) + seconds > budget;
  if (!group_) return over;
  torch::Tensor flag = torch::tensor({over ? 1.0 : 0.0}, torch::kFloat64);
  group_->all_reduce_sum(flag, "agreeing on the time budget");
  return flag.item<double>() > 0;
}

void Trainer::hold_out_validation() {
  std::vector<int64_t> ids;
  ids.reserve(static_cast<size_t>(train_set_.size()));
  for (int64_t k = 0; k < train_set_.size(); ++k) ids.push_back(train_set_.label(k));
  auto [train_part, valid_part] =
      split_validation(ids, config_.train.valid_fraction, config_.train.seed, !config_.model.multi_label);
  valid_set_ = train_set_.subset(valid_part);
  train_set_ = train_set_.subset(train_part);
  note(fmt::format("held out {} of {} documents for validation (stratified, seed {})", valid_set_.size(),
                   valid_set_.size() + train_set_.size(), config_.train.seed));
}

void Trainer::drop_empty_documents(const std::string& train_path) {
  const auto drop = [](DocumentSet& set) {
    const int64_t before = set.size();
    std::vector<int64_t> kept;
    kept.reserve(set.members.size());
    for (const int64_t i : set.members) {
      if (set.source->sentences(i) > 0) kept.push_back(i);
    }
    set.members = std::move(kept);
    return before - set.size();
  };
  const int64_t empty_train = drop(train_set_);
  const int64_t empty_valid = valid_set_.source ? drop(valid_set_) : 0;
  if (empty_train + empty_valid > 0) {
    note(fmt::format("skipped {} empty documents ({} training, {} validation)", empty_train + empty_valid, empty_train,
                     empty_valid));
  }
  if (train_set_.empty()) throw InputError(fmt::format("{}: no non-empty training documents", train_path));
}

// The vocabulary from the training split only, then both splits as word ids.
// Labels are names printed in TSV columns and tables: a tab or line break in
// one is a corpus mistake (a shifted column), not a name.
void check_labels_printable(const TokenizedCorpus& corpus) {
  for (size_t k = 0; k < corpus.labels.size(); ++k) {
    for (const char c : corpus.labels[k]) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        throw InputError(
            fmt::format("{}: the label holds a control character (byte 0x{:02x}; tabs and line breaks "
                        "included): is a column shifted? Labels are names: fix the corpus",
                        corpus.label_origins[k], static_cast<unsigned>(static_cast<unsigned char>(c))));
      }
    }
  }
}

// Every document has a label, every label is known to `known` (when given).
void check_labels(const TokenizedCorpus& corpus, const LabelSet* known, const std::string& what) {
  bool unlabeled = false;
  for_each_outline(corpus, [&](const DocumentOutline& d) { unlabeled = unlabeled || d.label < 0; });
  if (unlabeled || !corpus.first_unlabeled.empty()) {
    throw InputError(fmt::format("{}: document has no label",
                                 corpus.first_unlabeled.empty() ? corpus.path : corpus.first_unlabeled));
  }
  if (!known) return;
  for (size_t k = 0; k < corpus.labels.size(); ++k) {
    if (known->id(corpus.labels[k]) < 0) {
      throw InputError(fmt::format("{}: label '{}' {}", corpus.label_origins[k], corpus.labels[k], what));
    }
  }
}

// The warm start's weights, parameter by parameter; `to` was built with `from`'s settings.
void copy_weights(const Model& from, Model& to) {
  torch::NoGradGuard no_grad;
  const auto source = from.network->parameters();
  auto target = to.network->parameters();
  if (source.size() != target.size()) throw InputError("--init: the model's network differs from this run's settings");
  for (size_t i = 0; i < source.size(); ++i) {
    if (!source[i].sizes().equals(target[i].sizes())) {
      throw InputError("--init: the model's network differs from this run's settings");
    }
    target[i].copy_(source[i]);
  }
}

void Trainer::build_vocabulary() {
  const Model* init = checkpoints_.init;
  if (init) {
    vocabulary_ = init->vocabulary;
  } else {
    // Counted as the documents stream by: a corpus on disk is never read whole.
    std::vector<int64_t> counts(static_cast<size_t>(forms_.size()), 0);
    train_source_->count_forms(train_set_.members, counts);
    WordCounter counter;
    for (int32_t f = 0; f < forms_.size(); ++f) {
      if (counts[static_cast<size_t>(f)] > 0) counter.add(std::string(forms_.form(f)), counts[static_cast<size_t>(f)]);
    }
    // Words frequent in the unlabeled text get a row too: their pretrained
    // vectors carry meaning to test documents that use them.
    std::vector<const std::string*> unlabeled_only;
    for (size_t w = 0; w < unlabeled_.words.size(); ++w) {
      if (!counter.counts().count(unlabeled_.words[w])) unlabeled_only.push_back(&unlabeled_.words[w]);
      counter.add(unlabeled_.words[w], unlabeled_.counts[w]);
    }
    vocabulary_ = Vocabulary::build(counter, config_.train.min_count, config_.train.max_vocab);
    for (const std::string* word : unlabeled_only) report_.unlabeled_words += vocabulary_.id(*word) != Vocabulary::kUnk;
  }
  const std::vector<int32_t> form_to_word = vocabulary_ids(forms_, vocabulary_);
  train_source_->set_vocabulary(form_to_word);
  if (valid_source_) valid_source_->set_vocabulary(form_to_word);
  int64_t valid_tokens = 0, valid_unknown = 0;
  if (valid_set_.source) {
    valid_set_.for_each([&](const EncodedDocument& d) {
      for (int32_t id : d.word_ids) valid_unknown += id == Vocabulary::kUnk;
      valid_tokens += static_cast<int64_t>(d.word_ids.size());
      return true;
    });
  }
  release_free_memory();
  report_.train_documents = train_set_.size();
  report_.valid_documents = valid_set_.size();
  report_.vocabulary_size = vocabulary_.size();
  report_.unknown_rate_valid =
      valid_tokens ? static_cast<double>(valid_unknown) / static_cast<double>(valid_tokens) : 0;
}

void Trainer::prepare_data(TokenizedCorpus& train, TokenizedCorpus* valid) {
  // Labels come from the training data; validation labels must be among them.
  check_labels(train, nullptr, "");
  check_labels_printable(train);
  labels_ = checkpoints_.init ? checkpoints_.init->labels : LabelSet::build(train.labels);
  const std::string warm_start = fmt::format(
      "is not one of the model's ({}): a warm start (--init) keeps the model's labels; train a new model for new "
      "labels",
      fmt::join(labels_.names(), ", "));
  if (checkpoints_.init) check_labels(train, &labels_, warm_start);
  check_fields_not_swapped(train);
  if (labels_.size() < 2) {
    throw InputError(fmt::format("{}: training needs at least 2 labels, found {}", train.path, labels_.size()));
  }
  if (valid) {
    check_labels(*valid, &labels_,
                 checkpoints_.init ? warm_start : fmt::format("does not occur in the training data {}", train.path));
  }

  report_.train_text = train.text;
  const TextReport& train_text = report_.train_text;
  const bool multi_label = config_.model.multi_label;
  train_source_ = std::make_shared<DocumentSource>(train, forms_, labels_, multi_label);
  train_set_ = DocumentSet::all(train_source_);
  if (valid) {
    report_.valid_text = valid->text;
    valid_source_ = std::make_shared<DocumentSource>(*valid, forms_, labels_, multi_label);
    valid_set_ = DocumentSet::all(valid_source_);
  } else if (config_.train.valid_fraction > 0) {
    hold_out_validation();
    held_out_ = true;
  }
  drop_empty_documents(train.path);
  if (train_text.truncated_documents > 0) {
    note(fmt::format("caps cut {} sentences and {} words from {} training documents (max_sentences {}, max_words {}){}",
                     train_text.sentences_cut, train_text.words_cut, train_text.truncated_documents,
                     config_.text.max_sentences, config_.text.max_words,
                     train_text.bytes_cut > 0 ? fmt::format("; {} bytes past max_bytes {} were not tokenized",
                                                            train_text.bytes_cut, config_.text.max_bytes)
                                              : std::string()));
  }
  if (!checkpoints_.init && !config_.train.unlabeled.empty()) read_unlabeled_text();
  build_vocabulary();
  weigh_classes();
  note(fmt::format("vocabulary: {} words (min count {}, max {}{}), labels: {}", vocabulary_.size(),
                   config_.train.min_count, config_.train.max_vocab,
                   unlabeled_.tokens > 0 ? fmt::format("; {} only in the unlabeled text", report_.unlabeled_words) : "",
                   fmt::join(labels_.names(), ", ")));
}

void Trainer::weigh_classes() {
  const auto n = static_cast<size_t>(labels_.size());
  std::vector<int64_t> train_counts(n, 0), valid_counts(n, 0);
  const auto count = [](const DocumentSet& set, std::vector<int64_t>& counts) {
    for (int64_t k = 0; k < set.size(); ++k) {
      const std::vector<int32_t> targets = set.targets(k);
      if (targets.empty()) ++counts[static_cast<size_t>(set.label(k))];
      for (const int32_t label : targets) ++counts[static_cast<size_t>(label)];
    }
  };
  count(train_set_, train_counts);
  count(valid_set_, valid_counts);
  if (config_.model.multi_label && config_.train.class_weights != "none") {
    note(fmt::format("multi-label: class weights ({}) are not applied; each label has its own output",
                     config_.train.class_weights));
  } else {
    class_weights_ = class_weights_for(config_.train.class_weights, labels_, train_counts);
  }
  if (!class_weights_.empty()) {
    std::vector<std::string> shown;
    for (size_t k = 0; k < n; ++k) shown.push_back(fmt::format("{} {:.3g}", labels_.names()[k], class_weights_[k]));
    note(fmt::format("class weights ({}): {}", config_.train.class_weights, fmt::join(shown, ", ")));
  }
  std::vector<std::string> few_train, few_valid;
  for (size_t k = 0; k < n; ++k) {
    if (train_counts[k] < kFewTrainingDocuments) {
      few_train.push_back(fmt::format("{} ({})", labels_.names()[k], train_counts[k]));
    }
    if (!valid_set_.empty() && valid_counts[k] < kFewValidationDocuments) {
      few_valid.push_back(fmt::format("{} ({})", labels_.names()[k], valid_counts[k]));
    }
  }
  if (!few_train.empty()) {
    note(fmt::format("warning: {} training documents under {}: {}; the model may never predict {}: add documents{}",
                     few_train.size() == 1 ? "a class has" : "classes have", kFewTrainingDocuments,
                     fmt::join(few_train, ", "), few_train.size() == 1 ? "it" : "them",
                     config_.train.class_weights == "none" ? ", or weigh them up with --class-weights balanced" : ""));
  }
  if (!few_valid.empty()) {
    // The held-out split of a single-label model gives classes under
    // kFewTrainingDocuments no validation documents on purpose: say so.
    const std::string why = held_out_ && !config_.model.multi_label
                                ? fmt::format(
                                      " (a held-out split leaves classes of under {} documents whole in "
                                      "training)",
                                      kFewTrainingDocuments)
                                : std::string();
    note(
        fmt::format("warning: validation documents under {}: {}; their validation scores are noise: give a --valid "
                    "set with more of them{}",
                    kFewValidationDocuments, fmt::join(few_valid, ", "), why));
  }
}

void Trainer::load_pretrained_vectors() {
  torch::NoGradGuard no_grad;
  auto& weight = model_.network->word_embedding()->weight;
  const auto loaded = load_embeddings(config_.train.embeddings, model_.vocabulary, weight, config_.text.lowercase,
                                      parse_vector_format(config_.train.embeddings_format));
  report_.embeddings = loaded;
  note(fmt::format(
      "{} ({}, {} vectors): {} of {} vocabulary words found{}, {} initialised randomly{}", config_.train.embeddings,
      to_string(loaded.format), loaded.vectors_in_file, loaded.found, loaded.vocabulary_words,
      loaded.found_lowercased ? fmt::format(" ({} through lower-casing)", loaded.found_lowercased) : "",
      loaded.vocabulary_words - loaded.found, config_.train.freeze_embeddings ? "; embeddings frozen" : ""));
}

namespace {

// Pretraining reads about this many tokens at most (4 bytes each in memory):
// more text hardly improves the vectors, and a corpus of millions of
// documents would not fit.
constexpr int64_t kMaxPretrainingTokens = 64'000'000;

// The training documents as word2vec reads them: the vocabulary without PAD
// and UNK (word k is vocabulary id k + 2), UNK tokens left out. Every
// `stride`th document, up to kMaxPretrainingTokens: a sample spread over the
// split, whatever order its classes come in.
EncodedText training_text(const DocumentSet& documents, const Vocabulary& vocabulary, int64_t stride) {
  constexpr int32_t kFirstWord = Vocabulary::kUnk + 1;
  EncodedText text;
  text.words.assign(vocabulary.words().begin() + kFirstWord, vocabulary.words().end());
  text.counts.assign(text.words.size(), 0);
  text.offsets.push_back(0);
  int64_t seen = 0;
  documents.for_each([&](const EncodedDocument& d) {
    if (seen++ % stride != 0) return true;
    for (int32_t id : d.word_ids) {
      ++text.tokens;
      if (id < kFirstWord) continue;
      text.ids.push_back(id - kFirstWord);
      ++text.counts[static_cast<size_t>(id - kFirstWord)];
    }
    text.offsets.push_back(static_cast<int64_t>(text.ids.size()));
    return text.tokens < kMaxPretrainingTokens;
  });
  return text;
}

// Appends the unlabeled documents (in their own word ids) to `text` as
// vocabulary words, read once over the pretraining's passes.
void append_unlabeled(EncodedText& text, const EncodedText& unlabeled, const Vocabulary& vocabulary) {
  constexpr int32_t kFirstWord = Vocabulary::kUnk + 1;
  if (unlabeled.documents() == 0) return;
  std::vector<int32_t> to_text(unlabeled.words.size());
  for (size_t w = 0; w < unlabeled.words.size(); ++w) to_text[w] = vocabulary.id(unlabeled.words[w]) - kFirstWord;
  text.read_once_from = text.documents();
  for (int64_t d = 0; d < unlabeled.documents(); ++d) {
    const auto begin = static_cast<size_t>(unlabeled.offsets[static_cast<size_t>(d)]);
    const auto end = static_cast<size_t>(unlabeled.offsets[static_cast<size_t>(d) + 1]);
    for (size_t k = begin; k < end; ++k) {
      ++text.tokens;
      const int32_t id = to_text[static_cast<size_t>(unlabeled.ids[k])];
      if (id < 0) continue;  // below min_count, or UNK
      text.ids.push_back(id);
      ++text.counts[static_cast<size_t>(id)];
    }
    text.offsets.push_back(static_cast<int64_t>(text.ids.size()));
  }
}

}  // namespace

namespace {

// Pretrained vectors are a function of the training text and the options
// alone (one thread, seeded): the cache keys them by a digest of both, so a
// rerun on the same split (other model settings, more epochs) skips them.
uint64_t vectors_digest(const EncodedText& text, const Word2VecOptions& o) {
  uint64_t digest = fnv1a(fmt::format("han {} word2vec {} {} {} {} {} {:a} {} {:a} {} {}", HAN_VERSION, o.dimension,
                                      o.window, o.negative, o.min_count, o.max_vocab, o.subsample, o.epochs,
                                      o.learning_rate, o.threads, o.seed));
  for (const std::string& word : text.words) digest = fnv1a("\xff", fnv1a(word, digest));
  // The same documents read once rather than every pass give other vectors.
  digest = fnv1a(fmt::format("read once from {}", text.read_once_from), digest);
  const auto bytes = [](const auto& values) {
    return std::string_view(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(values[0]));
  };
  return fnv1a(bytes(text.offsets), fnv1a(bytes(text.ids), digest));
}

constexpr char kVectorsMagic[8] = {'H', 'A', 'N', 'V', 'E', 'C', 'S', '\0'};

// magic, u64 digest, u64 words, u64 dimension, float32 rows, u32 CRC-32.
std::string vectors_file_bytes(const WordVectors& vectors, uint64_t digest) {
  std::string bytes(kVectorsMagic, sizeof kVectorsMagic);
  bytes::put<uint64_t>(bytes, digest);
  bytes::put<uint64_t>(bytes, static_cast<uint64_t>(vectors.size()));
  bytes::put<uint64_t>(bytes, static_cast<uint64_t>(vectors.dimension));
  bytes.append(reinterpret_cast<const char*>(vectors.values.data()), vectors.values.size() * sizeof(float));
  bytes::put<uint32_t>(bytes, bytes::crc32_of(bytes.data(), bytes.size()));
  return bytes;
}

// The cached vectors when `path` holds exactly those of `digest`, of this size.
std::optional<WordVectors> read_cached_vectors(const std::string& path, uint64_t digest, const EncodedText& text,
                                               int dimension) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t rows = text.words.size() * static_cast<size_t>(dimension);
  const size_t head = sizeof kVectorsMagic + 3 * sizeof(uint64_t);
  if (bytes.size() != head + rows * sizeof(float) + sizeof(uint32_t) ||
      bytes.compare(0, sizeof kVectorsMagic, kVectorsMagic, sizeof kVectorsMagic) != 0 ||
      bytes::get<uint64_t>(bytes, 8) != digest || bytes::get<uint64_t>(bytes, 16) != text.words.size() ||
      bytes::get<uint64_t>(bytes, 24) != static_cast<uint64_t>(dimension) ||
      bytes::get<uint32_t>(bytes, bytes.size() - 4) != bytes::crc32_of(bytes.data(), bytes.size() - 4)) {
    return std::nullopt;
  }
  WordVectors vectors;
  vectors.dimension = dimension;
  vectors.words = text.words;
  vectors.values.resize(rows);
  std::memcpy(vectors.values.data(), bytes.data() + head, rows * sizeof(float));
  return vectors;
}

}  // namespace

WordVectors Trainer::cached_or_pretrained(const EncodedText& text, const Word2VecOptions& options,
                                          Clock::time_point start) {
  const std::string& folder = checkpoints_.cache_folder;
  const uint64_t digest = folder.empty() ? 0 : vectors_digest(text, options);
  const std::string path = (std::filesystem::path(folder) / fmt::format("vectors-{:016x}.bin", digest)).string();
  if (!folder.empty()) {
    if (auto cached = read_cached_vectors(path, digest, text, options.dimension)) {
      note(
          fmt::format("word vectors: read from the cache {} (pretrained before on this training text with these "
                      "settings)",
                      path));
      return std::move(*cached);
    }
  }
  WordVectors vectors = train_word2vec(text, options, [&](const Word2VecProgress& p) {
    progress(TrainingProgress::Stage::Pretraining, p.epoch, p.words_done, p.words_total, 0, start);
  });
  if (folder.empty() || !lead_) return vectors;
  try {
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    write_file_atomically(path, vectors_file_bytes(vectors, digest));
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  } catch (const InputError& e) {
    note(fmt::format("word vectors: not cached ({})", e.what()));
  }
  return vectors;
}

namespace {

// Unlabeled text is read whole before it is tokenized; pretraining reads at
// most kMaxPretrainingTokens (about 400 MB of English), so more than this is
// a mistake (a disk, a home folder) that would only exhaust memory.
constexpr uintmax_t kMaxUnlabeledBytes = uintmax_t{1} << 30;

// Every `stride`th document of `text` (min count 1: every token is in ids), recounted.
void keep_every(EncodedText& text, int64_t stride) {
  EncodedText kept;
  kept.words = text.words;
  kept.counts.assign(text.words.size(), 0);
  kept.offsets.push_back(0);
  for (int64_t d = 0; d < text.documents(); d += stride) {
    for (int64_t k = text.offsets[static_cast<size_t>(d)]; k < text.offsets[static_cast<size_t>(d) + 1]; ++k) {
      const int32_t id = text.ids[static_cast<size_t>(k)];
      kept.ids.push_back(id);
      ++kept.counts[static_cast<size_t>(id)];
    }
    kept.offsets.push_back(static_cast<int64_t>(kept.ids.size()));
  }
  kept.tokens = static_cast<int64_t>(kept.ids.size());
  text = std::move(kept);
}

// Bytes of the regular files at or below `path` (symlinks to folders not followed).
uintmax_t bytes_below(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    const uintmax_t size = std::filesystem::file_size(path, ec);
    return ec ? 0 : size;
  }
  uintmax_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(
           path, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_error;
    if (it->is_regular_file(size_error)) {
      const uintmax_t size = it->file_size(size_error);
      if (!size_error) total += size;
    }
    if (total > kMaxUnlabeledBytes) break;
  }
  return total;
}

}  // namespace

void Trainer::read_unlabeled_text() {
  const Clock::time_point start = Clock::now();
  const std::string& path = config_.train.unlabeled;
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!ec && !std::filesystem::is_regular_file(status) && !std::filesystem::is_directory(status)) {
    throw InputError(fmt::format(
        "{}: the unlabeled text must be a file or a folder (a pipe or device is read in part when its format is "
        "guessed): write it to a file first",
        path));
  }
  if (bytes_below(path) > kMaxUnlabeledBytes) {
    throw InputError(fmt::format(
        "{}: more than {} MB of unlabeled text; pretraining reads at most {} M tokens (about 400 MB of text): give "
        "a sample of it",
        path, kMaxUnlabeledBytes >> 20, kMaxPretrainingTokens / 1'000'000));
  }
  std::vector<Document> documents;
  const CorpusOptions& layout = checkpoints_.unlabeled_reader;
  try {
    documents = read_unlabeled(path, layout);
  } catch (const InputError& e) {
    if (layout.text_field.empty() && layout.delimiter == 0 && !layout.no_header) throw;
    // Not in the training file's layout: its own columns, guessed, as han embed reads it.
    try {
      documents = read_unlabeled(path, CorpusOptions{});
      note(fmt::format("{}: not in the training corpus's layout ({}); read with its columns guessed", path, e.what()));
    } catch (const InputError&) {
      throw InputError(
          fmt::format("{} (a CSV, TSV or JSON Lines file of unlabeled text is read with the training "
                      "corpus's --text-field, --delimiter and --no-header, else with its columns "
                      "guessed: write it in the same layout, or with a column named text)",
                      e.what()));
    }
  }
  unlabeled_ = encode_texts(
      documents.size(), [&](size_t i) { return std::string_view(documents[i].text); }, config_.text, 1, 0, threads_,
      [&](size_t done) {
        progress(TrainingProgress::Stage::Tokenizing, 0, static_cast<int64_t>(done),
                 static_cast<int64_t>(documents.size()), 0, start);
      });
  documents = {};
  if (unlabeled_.tokens == 0) throw InputError(fmt::format("{}: the unlabeled text holds no words", path));
  const int64_t read = unlabeled_.documents(), tokens = unlabeled_.tokens;
  // Only what pretraining will read counts, in the vocabulary too: every
  // `stride`th document, within the tokens the training text leaves.
  const int64_t room = kMaxPretrainingTokens - std::min(report_.train_text.tokens, kMaxPretrainingTokens);
  if (room == 0) {
    note(fmt::format("unlabeled text {}: not used; the training text alone fills the {} M tokens pretraining reads",
                     path, kMaxPretrainingTokens / 1'000'000));
    unlabeled_ = {};
    return;
  }
  const int64_t stride = (tokens + room - 1) / room;
  if (stride > 1) keep_every(unlabeled_, stride);
  release_free_memory();
  report_.unlabeled_documents = unlabeled_.documents();
  note(fmt::format("unlabeled text {}: {} documents, {} tokens{}, {} distinct words, {:.1f} s", path, read, tokens,
                   stride > 1 ? fmt::format(" (every {}th document used: {} tokens)", stride, unlabeled_.tokens) : "",
                   unlabeled_.words.size(), seconds_since(start)));
}

// Skip-gram vectors for the vocabulary from the training split's own text
// (never the validation split's), on one thread: hogwild threads would make
// the run depend on timing, and a seed must give the same model. Every rank
// of a data-parallel run computes the same vectors rather than waiting for
// rank 0's: on a big corpus the wait could outlast --dist-timeout. The ids are
// copied once more (4 bytes a token) for the duration of the pretraining.
void Trainer::pretrain_vectors() {
  const Clock::time_point start = Clock::now();
  Word2VecOptions options;
  options.dimension = config_.model.embedding_dim;
  options.epochs = config_.train.pretrain_epochs;
  options.min_count = 1;
  options.threads = 1;
  options.seed = config_.train.seed;
  // The whole corpus's tokens (a held-out split's included) estimate the split's.
  const int64_t stride =
      std::max<int64_t>(1, (report_.train_text.tokens + kMaxPretrainingTokens - 1) / kMaxPretrainingTokens);
  EncodedText text = training_text(train_set_, model_.vocabulary, stride);
  const int64_t training_tokens = text.tokens;
  append_unlabeled(text, unlabeled_, model_.vocabulary);
  report_.unlabeled_tokens = text.tokens - training_tokens;  // what pretraining reads of it
  if (text.ids.empty()) {
    note("word vectors: not pretrained, no vocabulary word occurs in the training split (lower train.min_count)");
    return;
  }
  const WordVectors vectors = cached_or_pretrained(text, options, start);
  torch::NoGradGuard no_grad;
  auto& weight = model_.network->word_embedding()->weight;  // [vocabulary, dim]
  const torch::Tensor rows =
      torch::from_blob(const_cast<float*>(vectors.values.data()), {vectors.size(), vectors.dimension}, torch::kFloat32);
  // Little text leaves skip-gram's vectors near their tiny starting values;
  // spread them at least as wide as the random initialisation, or the
  // classifier starts from words it cannot tell apart.
  const double spread = rows.std().item<double>(), wanted = weight.std().item<double>();
  const double scale = spread > 0 && spread < wanted ? wanted / spread : 1.0;
  weight.narrow(0, Vocabulary::kUnk + 1, vectors.size()).copy_(rows * scale);
  const std::string unlabeled =
      unlabeled_.tokens > 0 ? fmt::format(" and {} unlabeled tokens (read once)", report_.unlabeled_tokens) : "";
  note(fmt::format("word vectors: {} words pretrained on {} training tokens{}{}, {} passes, {:.0f} s{}{}",
                   vectors.size(), training_tokens, stride > 1 ? fmt::format(" (every {}th document's)", stride) : "",
                   unlabeled, options.epochs, seconds_since(start),
                   scale > 1 ? fmt::format("; scaled {:.1f}x to the random initialisation's spread", scale) : "",
                   config_.train.freeze_embeddings ? "; embeddings frozen" : ""));
}

// A digest of what shapes the model: every rank must have read the same corpus.
void Trainer::check_same_corpus_on_every_rank(const std::string& train_path) {
  uint64_t digest = kFnvOffset;
  auto mix = [&](std::string_view text) {
    digest = fnv1a("\xff", fnv1a(text, digest));  // 0xff ends each string: {"ab","c"} != {"a","bc"}
  };
  for (const auto& w : model_.vocabulary.words()) mix(w);
  for (const auto& l : model_.labels.names()) mix(l);
  mix(fmt::format("{} {}", train_set_.size(), valid_set_.size()));
  for (float w : class_weights_) mix(fmt::format("{:a}", w));
  const torch::Tensor mine = torch::tensor({static_cast<int64_t>(digest)}, torch::kInt64);
  const auto all = group_->all_gather(mine, "comparing the corpora");
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r].item<int64_t>() != all[0].item<int64_t>()) {
      throw InputError(
          fmt::format("{}: rank {} read other data than rank 0 (its vocabulary, labels or document "
                      "counts or class weights differ); every rank must read the same corpus and settings",
                      train_path, r));
    }
  }
}

// The same starting weights everywhere, whatever each rank initialised.
void Trainer::broadcast_initial_weights() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flat;
  for (const auto& p : model_.network->parameters()) flat.push_back(p.reshape(-1));
  torch::Tensor bucket = torch::cat(flat);
  group_->broadcast(bucket, 0, "sharing rank 0's initial weights");
  int64_t offset = 0;
  for (auto& p : model_.network->parameters()) {
    p.view(-1).copy_(bucket.narrow(0, offset, p.numel()));
    offset += p.numel();
  }
}

// A multi-label model's output biases start at each label's log-odds in the
// training split, so that the first steps do not spend themselves pushing
// every rare label's probability down from 0.5.
void Trainer::start_from_label_frequencies() {
  torch::NoGradGuard no_grad;
  const auto n = model_.labels.size();
  std::vector<double> carrying(static_cast<size_t>(n), 0.0);
  for (int64_t k = 0; k < train_set_.size(); ++k) {
    for (const int32_t label : train_set_.targets(k)) carrying[static_cast<size_t>(label)] += 1;
  }
  const auto documents = static_cast<double>(train_set_.size());
  torch::Tensor bias = model_.network->parameter_tensors()[kClassifierBias];
  for (int64_t k = 0; k < n; ++k) {
    const double c = carrying[static_cast<size_t>(k)];
    bias[k] = std::log((c + 1) / (documents - c + 1));
  }
}

void Trainer::init_model(const std::string& train_path) {
  Checkpoint* resume = checkpoints_.resume;
  if (resume) {
    // The same corpus and settings give the same vocabulary; anything else
    // would silently train a different model.
    if (resume->model.vocabulary.words() != vocabulary_.words() || resume->model.labels.names() != labels_.names()) {
      throw InputError(fmt::format(
          "{}: the corpus is not the one the checkpoint was trained on (its vocabulary or labels differ){}", train_path,
          config_.train.unlabeled.empty()
              ? ""
              : fmt::format("; or the unlabeled text {} changed since", config_.train.unlabeled)));
    }
  }
  if (resume && resume->model.class_weights != class_weights_) {
    throw InputError(
        fmt::format("{}: the class weights ({}) are not the checkpoint's: its run was trained with "
                    "other weights; restore the weights file or start afresh",
                    train_path, config_.train.class_weights));
  }
  model_ = resume ? std::move(resume->model) : make_model(config_, std::move(vocabulary_), std::move(labels_));
  model_.class_weights = class_weights_;
  auto& network = model_.network;
  const bool warm = checkpoints_.init != nullptr && !resume;
  if (!resume) starting_weights(warm);
  freeze_vectors_if_asked(warm);
  if (warm) state_.warm_started = true;
  if (group_) {
    check_same_corpus_on_every_rank(train_path);
    broadcast_initial_weights();
    note(fmt::format("data-parallel: {} ranks over c10d {}, {} documents a batch ({} each)", group_->size(),
                     group_->backend(), config_.train.batch_size * group_->size(), config_.train.batch_size));
    // Validation is shared out: each rank scores its contiguous part.
    const int64_t n = valid_set_.size(), r = group_->rank(), size = group_->size();
    if (valid_set_.source) valid_part_ = valid_set_.slice(n * r / size, n * (r + 1) / size);
  }
  if (!device_.is_cpu()) {
    if (effective_engine(config_.train.engine, device_) != config_.train.engine) {
      note(fmt::format("training on {} with the reference engine (LibTorch's modules; the fused kernels are CPU code)",
                       device_.str()));
    }
    network->to(device_);
  }
  trainer_ = std::make_unique<BatchTrainer>(network, config_, threads_, execution_, class_weights_);
}

// --init's weights, or fresh ones with the given or pretrained word vectors.
void Trainer::starting_weights(bool warm) {
  if (warm) {
    copy_weights(*checkpoints_.init, model_);
    return;
  }
  if (config_.model.multi_label) start_from_label_frequencies();
  if (!config_.train.embeddings.empty()) {
    load_pretrained_vectors();
  } else if (config_.train.pretrain_epochs > 0) {
    pretrain_vectors();
  }
}

void Trainer::freeze_vectors_if_asked(bool warm) {
  const bool vectors = !warm && (!config_.train.embeddings.empty() || config_.train.pretrain_epochs > 0);
  if (config_.train.freeze_embeddings && vectors) {
    model_.network->word_embedding()->weight.set_requires_grad(false);
  }
}

void Trainer::restore_checkpoint() {
  if (config_.train.average > 0) averaged_ = snapshot(model_.network);
  Checkpoint* resume = checkpoints_.resume;
  if (!resume) {
    std::ostringstream shuffle;
    shuffle << rng_;
    state_.shuffle_state = shuffle.str();
    return;
  }
  state_ = resume->state;
  best_weights_ = resume->best_weights;
  for (auto& w : best_weights_) w = w.to(device_);
  if (!averaged_.empty() && !resume->averaged_weights.empty()) {
    for (size_t i = 0; i < averaged_.size(); ++i) averaged_[i] = resume->averaged_weights[i].to(device_);
  }
  std::istringstream(state_.shuffle_state) >> rng_;
  if (!resume->optimizer_state.empty()) {
    std::istringstream in(resume->optimizer_state);
    torch::serialize::InputArchive archive;
    archive.load_from(in, device_);  // where this run trains, whatever device wrote it
    trainer_->optimizer().load(archive);
  }
  if (resume->generator_state.defined()) {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    generator_.set_state(resume->generator_state);
  }
  report_.epochs = state_.epochs;
  report_.best_epoch = state_.best_epoch;
  report_.resumed = true;
  note(fmt::format("resuming from {}: epoch {}, batch {} ({} batches done)", checkpoints_.path, state_.epoch,
                   state_.step, state_.global_step));
}

void Trainer::save_checkpoint() {
  // A refit is redone whole from the checkpoint of the run it follows.
  if (checkpoints_.path.empty() || refitting_) return;
  // Never replace a good checkpoint with weights that have blown up.
  for (const auto& p : trainer_->parameters()) {
    if (!torch::isfinite(p).all().item<bool>()) {
      throw DivergenceError(
          fmt::format("training diverged: the weights are no longer finite at step {} (epoch {}); "
                      "{} holds the last good state; lower train.learning_rate",
                      state_.global_step, state_.epoch, checkpoints_.path));
    }
  }
  if (!lead_) return;
  auto& network = model_.network;
  Checkpoint c;
  // Weights are saved from the CPU, so a checkpoint loads without a GPU.
  if (!device_.is_cpu()) network->to(torch::kCPU);
  c.model = model_;
  for (const auto& w : best_weights_) c.best_weights.push_back(w.to(torch::kCPU));
  c.averaged_weights = averaged_;  // written from CPU copies
  std::ostringstream out;
  torch::serialize::OutputArchive archive;
  trainer_->optimizer().save(archive);
  archive.save_to(out);
  c.optimizer_state = out.str();
  {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    c.generator_state = generator_.get_state();
  }
  c.state = state_;
  c.run = checkpoints_.run;
  han::save_checkpoint(c, checkpoints_.path);
  if (!device_.is_cpu()) network->to(device_);
}

Trainer::EpochEnd Trainer::run_epoch(Clock::time_point epoch_start) {
  const int epoch = state_.epoch;
  const int64_t total = train_set_.size();
  // Regenerated from the epoch's starting state, so a resumed epoch sees the same batches.
  // Data-parallel: batch_size documents for each rank.
  const auto batches =
      bucket_batches(train_set_.sentence_counts(), config_.train.batch_size * (group_ ? group_->size() : 1), &rng_);
  std::vector<EncodedDocument> documents;  // the batch's, read as it comes
  for (size_t b = static_cast<size_t>(state_.step); b < batches.size(); ++b) {
    if (steps_over()) return EpochEnd::Finished;  // a resumed run given fewer steps
    const auto& indices = batches[b];
    train_set_.fetch(indices, documents);
    std::vector<const EncodedDocument*> members;
    for (const EncodedDocument& d : documents) members.push_back(&d);
    const BatchTrainer::Step step = trainer_->step(members, state_.global_step, stop_requested());
    const bool stop = group_ ? step.stop : stop_requested();
    if (!std::isfinite(step.loss_sum)) {
      throw DivergenceError(fmt::format(
          "training diverged: the loss is {} at step {} (epoch {}, batch {} of {}); nothing was saved after it{}; "
          "lower train.learning_rate",
          step.loss_sum, state_.global_step + 1, epoch, b + 1, batches.size(),
          checkpoints_.path.empty() ? std::string()
                                    : fmt::format(", and {} holds the last good state", checkpoints_.path)));
    }
    state_.loss_sum += step.loss_sum;
    state_.correct += step.correct;
    state_.done += static_cast<int64_t>(indices.size());
    state_.step = static_cast<int64_t>(b) + 1;
    ++state_.global_step;
    if (!averaged_.empty() && step.applied) {
      update_average(averaged_, model_.network, config_.train.average, state_.global_step);
    }
    progress(TrainingProgress::Stage::Training, epoch, state_.done, total,
             state_.loss_sum / static_cast<double>(state_.done), epoch_start);
    if (steps_over()) return EpochEnd::Finished;
    const bool last = state_.step == static_cast<int64_t>(batches.size());
    if (stop || (!last && checkpoints_.every_steps > 0 && state_.global_step % checkpoints_.every_steps == 0)) {
      const double before = state_.epoch_seconds;
      state_.epoch_seconds += seconds_since(epoch_start);
      save_checkpoint();
      state_.epoch_seconds = before;
      if (stop) return EpochEnd::Interrupted;
    }
  }
  return EpochEnd::Finished;
}

void Trainer::validate(EpochSummary& summary) {
  // Single-label ranks share the split out and sum their confusion counts.
  // Multi-label scores need every document's probabilities, so there each
  // rank scores the whole split and the ranks then agree on the figures.
  const bool shared_out = group_ && !config_.model.multi_label;
  const DocumentSet& mine = shared_out ? valid_part_ : valid_set_;
  const int64_t valid_total = mine.size();
  const auto valid_start = Clock::now();
  Scores scores = score(
      model_.network, mine, config_.train.batch_size, threads_, device_, class_weights_,
      [&](int64_t d) { progress(TrainingProgress::Stage::Validating, summary.epoch, d, valid_total, 0, valid_start); });
  if (shared_out) {
    // Every rank's counts, summed: a confusion matrix and the loss.
    const int64_t n = static_cast<int64_t>(model_.labels.size());
    torch::Tensor counts = torch::zeros({n * n + 1}, torch::kFloat64);
    double* c = counts.data_ptr<double>();
    for (size_t i = 0; i < scores.gold.size(); ++i) c[scores.gold[i] * n + scores.predicted[i]] += 1;
    c[n * n] = scores.loss * static_cast<double>(scores.gold.size());
    group_->all_reduce_sum(counts, "summing the validation counts");
    scores.gold.clear();
    scores.predicted.clear();
    for (int64_t g = 0; g < n; ++g) {
      for (int64_t p = 0; p < n; ++p) {
        scores.gold.insert(scores.gold.end(), static_cast<size_t>(c[g * n + p]), g);
        scores.predicted.insert(scores.predicted.end(), static_cast<size_t>(c[g * n + p]), p);
      }
    }
    scores.loss = c[n * n] / static_cast<double>(std::max<int64_t>(1, valid_set_.size()));
  }
  summary.validated = true;
  summary.valid_loss = scores.loss;
  if (config_.model.multi_label) {
    // At 0.5: the thresholds are tuned once training has chosen its epoch.
    const auto metrics = compute_multilabel_metrics(scores.targets, scores.probabilities,
                                                    std::vector<float>(static_cast<size_t>(model_.labels.size()), 0.5f),
                                                    model_.labels.names());
    summary.multi_label = true;
    summary.valid_accuracy = metrics.micro.f1;
    summary.valid_macro_f1 = metrics.macro.f1;
    if (group_) agree_on_validation(summary);
  } else {
    EvaluationReport metrics = compute_metrics(scores.gold, scores.predicted, model_.labels.names());
    summary.valid_accuracy = metrics.accuracy;
    summary.valid_macro_f1 = metrics.macro_f1;
  }
  // train.select_by decides; on a tie the lower loss wins.
  const double score = selection_score(summary);
  summary.best = state_.best_epoch == 0 || score > state_.best_accuracy ||
                 (score == state_.best_accuracy && summary.valid_loss < state_.best_loss);
}

// Ranks that each scored the whole validation split take the mean of their
// figures, so that all make the same choice of epoch even if a last bit differs.
void Trainer::agree_on_validation(EpochSummary& summary) {
  torch::Tensor figures =
      torch::tensor({summary.valid_accuracy, summary.valid_macro_f1, summary.valid_loss}, torch::kFloat64);
  group_->all_reduce_sum(figures, "agreeing on the validation scores");
  figures.div_(group_->size());
  summary.valid_accuracy = figures[0].item<double>();
  summary.valid_macro_f1 = figures[1].item<double>();
  summary.valid_loss = figures[2].item<double>();
}

void Trainer::keep_if_best(EpochSummary& summary) {
  if (!summary.validated) summary.best = true;  // without validation the last epoch is kept
  if (summary.best) {
    state_.best_accuracy = selection_score(summary);  // the best score of train.select_by
    state_.best_loss = summary.valid_loss;
    best_weights_ = snapshot(model_.network);
    state_.best_epoch = summary.epoch;
    state_.epochs_without_gain = 0;
  } else {
    ++state_.epochs_without_gain;
  }
}

void Trainer::start_next_epoch(bool stop_early) {
  state_.step = 0;
  state_.loss_sum = 0;
  state_.correct = 0;
  state_.done = 0;
  state_.epoch_seconds = 0;
  std::ostringstream shuffle;
  shuffle << rng_;
  state_.shuffle_state = shuffle.str();
  state_.epoch = stop_early ? config_.train.epochs + 1 : state_.epoch + 1;  // a resumed run ends here too
  state_.finished = state_.epoch > config_.train.epochs;
}

// Multi-label: each label's decision threshold, from the kept weights'
// probabilities on the validation split (0.5 without one).
void Trainer::tune_thresholds_on_validation() {
  const auto n = static_cast<size_t>(model_.labels.size());
  if (valid_set_.empty()) {
    model_.thresholds.assign(n, 0.5f);
    note("multi-label: no validation split to tune thresholds on; every label's threshold is 0.5");
    return;
  }
  const Scores scores = score(model_.network, valid_set_, config_.train.batch_size, threads_, torch::kCPU, {}, nullptr);
  const Thresholds tuned = tune_thresholds(scores.targets, scores.probabilities, static_cast<int64_t>(n));
  model_.thresholds = tuned.per_label;
  const auto at_half = compute_multilabel_metrics(scores.targets, scores.probabilities, std::vector<float>(n, 0.5f),
                                                  model_.labels.names());
  const auto at_tuned =
      compute_multilabel_metrics(scores.targets, scores.probabilities, tuned.per_label, model_.labels.names());
  note(
      fmt::format("multi-label thresholds tuned on validation: {:.2f} for all labels, {} with one of their own "
                  "(5 or more validation documents); validation micro-F1 {:.2f}% at 0.5, {:.2f}% tuned",
                  tuned.global, tuned.tuned_labels, 100 * at_half.micro.f1, 100 * at_tuned.micro.f1));
}

Model Trainer::finish(TrainingReport* report_out, bool interrupted) {
  auto& network = model_.network;
  if (!refitting_) report_.steps = state_.global_step;
  // Stopped on request, after the checkpoint: the current (not the best) weights go back.
  if (interrupted) {
    report_.interrupted = true;
  } else {
    if (!best_weights_.empty()) restore(network, best_weights_);
  }
  network->to(torch::kCPU);
  if (!interrupted) network->eval();
  if (config_.model.multi_label) tune_thresholds_on_validation();
  report_.seconds = seconds_since(started_);
  if (report_out) *report_out = report_;
  if (!interrupted) model_.training = training_record(report_);
  return model_;
}

EpochSummary Trainer::training_summary(int epoch, Clock::time_point epoch_start) const {
  EpochSummary summary;
  summary.epoch = epoch;
  summary.seconds = state_.epoch_seconds + seconds_since(epoch_start);
  summary.train_loss = state_.loss_sum / static_cast<double>(std::max<int64_t>(1, state_.done));
  summary.train_accuracy = static_cast<double>(state_.correct) / static_cast<double>(std::max<int64_t>(1, state_.done));
  summary.docs_per_second = static_cast<double>(state_.done) / std::max(1e-9, summary.seconds);
  summary.learning_rate = config_.train.learning_rate;
  summary.multi_label = config_.model.multi_label;
  return summary;
}

Model Trainer::run(TrainingReport* report_out) {
  auto& network = model_.network;
  while (state_.epoch <= config_.train.epochs) {
    if (steps_over() && state_.step == 0) break;  // resumed at an epoch's end with no steps left
    const int epoch = state_.epoch;
    network->train();
    const auto epoch_start = Clock::now();
    if (run_epoch(epoch_start) == EpochEnd::Interrupted) return finish(report_out, true);
    trainer_->release_buffers();
    EpochSummary summary = training_summary(epoch, epoch_start);

    // With train.average, the average is what is validated and kept.
    std::vector<torch::Tensor> current;
    if (!averaged_.empty()) {
      current = snapshot(network);
      restore(network, averaged_);
    }
    if (!valid_set_.empty()) validate(summary);
    keep_if_best(summary);
    if (!current.empty()) restore(network, current);
    report_.best_epoch = state_.best_epoch;
    report_.epochs.push_back(summary);
    state_.epochs.push_back(summary);
    const bool patience_over = state_.epochs_without_gain >= config_.train.patience;
    const bool steps_over = !patience_over && this->steps_over();
    const bool time_over =
        !patience_over && !steps_over && epoch < config_.train.epochs && out_of_time(seconds_since(epoch_start));
    const bool stop_early = (patience_over || time_over || steps_over) && epoch < config_.train.epochs;
    start_next_epoch(stop_early);
    save_checkpoint();
    // What validation and the checkpoint freed goes back before the next
    // epoch's buffers grow again (glibc keeps up to M_TRIM_THRESHOLD otherwise).
    release_free_memory();

    if (callbacks_.on_epoch) callbacks_.on_epoch(summary);
    if (stop_early) {
      report_.stopped_early = true;
      note(steps_over ? fmt::format("stopping: {} batches done (train.max_steps); keeping epoch {}", state_.global_step,
                                    report_.best_epoch)
           : time_over ? fmt::format("stopping: another epoch would end past the time budget of {:g} s; keeping "
                                     "epoch {}",
                                     config_.train.time_budget, report_.best_epoch)
                       : fmt::format("stopping early: no better validation {} for {} epochs; keeping epoch {}",
                                     config_.train.select_by == "macro_f1" ? "macro-F1" : config_.train.select_by,
                                     state_.epochs_without_gain, report_.best_epoch));
      break;
    }
    if (stop_agreed() && state_.epoch <= config_.train.epochs) return finish(report_out, true);
  }
  if (stop_agreed()) return finish(report_out, true);  // asked to stop before the refit began
  return refit_wanted() ? refit(report_out) : finish(report_out, false);
}

namespace {

// train.refit=auto refits when that reads at most this many tokens (the best
// epoch times the corpus's tokens): seconds on small corpora, about three
// minutes for aclImdb's 6 M tokens on 2 cores, while a corpus whose best epoch
// came late (20 Newsgroups: the 29th of 3.7 M tokens) would double a run of
// ten minutes.
constexpr double kAutoRefitTokens = 80e6;

// Both sets' members, ascending: the held-out documents back among the training ones.
DocumentSet joined(const DocumentSet& a, const DocumentSet& b) {
  if (a.source != b.source) throw std::logic_error("joined: the sets are of different sources");
  DocumentSet set{a.source, {}};
  set.members.reserve(a.members.size() + b.members.size());
  std::merge(a.members.begin(), a.members.end(), b.members.begin(), b.members.end(), std::back_inserter(set.members));
  return set;
}

}  // namespace

bool Trainer::refit_wanted() const {
  const std::string& mode = config_.train.refit;
  if (mode == "never" || state_.best_epoch < 1) return false;
  const auto skipped = [&](const std::string& why) {
    note(fmt::format("refit: skipped: {}", why));
    return false;
  };
  if (!held_out_ || valid_set_.empty()) {
    // Asked for by name, it says why not; the recipe's auto stays quiet.
    return mode == "always" ? skipped(
                                  "no validation share was held out of the training data to add back (--valid "
                                  "gives the validation split, or train.valid_fraction is 0)")
                            : false;
  }
  if (config_.model.multi_label) return skipped("a multi-label model's thresholds are tuned on the held-out split");
  if (state_.warm_started)
    return skipped("a warm start (--init): a resumed run could not start it again from those weights");
  if (config_.train.max_steps > 0) return skipped("train.max_steps limits the whole run");
  const double tokens = static_cast<double>(report_.train_text.tokens) * state_.best_epoch;
  if (mode == "auto" && tokens > kAutoRefitTokens) {
    return skipped(fmt::format(
        "{} epochs over {:.2g} M tokens would read {:.0f} M tokens, more than the {:.0f} M "
        "train.refit=auto allows (--refit refits anyway)",
        state_.best_epoch, static_cast<double>(report_.train_text.tokens) / 1e6, tokens / 1e6, kAutoRefitTokens / 1e6));
  }
  double seconds = 0;  // the epochs up to the best, scaled to the held-out documents too
  for (const EpochSummary& e : state_.epochs) seconds += e.epoch <= state_.best_epoch ? e.seconds : 0;
  seconds *= static_cast<double>(train_set_.size() + valid_set_.size()) /
             static_cast<double>(std::max<int64_t>(1, train_set_.size()));
  if (out_of_time(seconds)) {
    return skipped(fmt::format("it would take about {:.0f} s more, past the time budget of {:g} s", seconds,
                               config_.train.time_budget));
  }
  return true;
}

void Trainer::start_refit() {
  // The same seeds as the run before it, so a resumed run refits identically;
  // the same word vectors too (pretrained on the same text, so from the cache).
  torch::manual_seed(config_.train.seed);
  rng_.seed(config_.train.seed);
  model_ = make_model(config_, model_.vocabulary, model_.labels);
  model_.class_weights = class_weights_;
  starting_weights(false);
  freeze_vectors_if_asked(false);
  train_set_ = joined(train_set_, valid_set_);
  valid_set_ = {};
  if (group_) broadcast_initial_weights();
  if (!device_.is_cpu()) model_.network->to(device_);
  trainer_ = std::make_unique<BatchTrainer>(model_.network, config_, threads_, execution_, class_weights_);
  best_weights_.clear();
  averaged_ = config_.train.average > 0 ? snapshot(model_.network) : std::vector<torch::Tensor>{};
  state_ = TrainingState{};
}

Model Trainer::refit(TrainingReport* report_out) {
  const int epochs = state_.best_epoch;
  const int64_t steps_before = state_.global_step;
  refitting_ = true;
  report_.steps = steps_before;
  report_.refit_epochs = epochs;
  report_.refit_documents = train_set_.size() + valid_set_.size();
  note(
      fmt::format("refit: a fresh model trained on all {} training documents ({} of them held out until now) for {} "
                  "epoch{}, the count that scored best; its last{} weights are kept",
                  report_.refit_documents, valid_set_.size(), epochs, epochs == 1 ? "" : "s",
                  config_.train.average > 0 ? " averaged" : ""));
  start_refit();
  auto& network = model_.network;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    network->train();
    const auto epoch_start = Clock::now();
    // Stopped, the refit is redone whole on --resume: its batches are not counted.
    if (run_epoch(epoch_start) == EpochEnd::Interrupted) return finish(report_out, true);
    trainer_->release_buffers();
    EpochSummary summary = training_summary(epoch, epoch_start);
    summary.refit = true;
    start_next_epoch(false);
    if (callbacks_.on_epoch) callbacks_.on_epoch(summary);
    if (epoch < epochs && stop_agreed()) return finish(report_out, true);
  }
  if (!averaged_.empty()) restore(network, averaged_);
  report_.steps = steps_before + state_.global_step;
  return finish(report_out, false);
}

}  // namespace

namespace {

// Multi-label when asked (model.multi_label) or when a document carries
// several labels; says how many documents carry 1, 2, ... labels.
Config with_multi_label(const Config& config, const TokenizedCorpus& train, const TokenizedCorpus* valid,
                        const CheckpointOptions& checkpoints, const TrainCallbacks& callbacks) {
  std::map<int64_t, int64_t> per_count;
  for_each_outline(train, [&](const DocumentOutline& d) { ++per_count[d.labels]; });
  if (valid) for_each_outline(*valid, [&](const DocumentOutline& d) { ++per_count[d.labels]; });
  const bool several = !per_count.empty() && per_count.rbegin()->first > 1;
  if (!several && !config.model.multi_label) return config;
  if (checkpoints.init && !checkpoints.init->config.model.multi_label) {
    throw InputError(
        fmt::format("{}: documents carry several labels, but the --init model is single-label: train "
                    "a new model",
                    train.path));
  }
  std::vector<std::string> shown;
  for (const auto& [count, documents] : per_count) {
    shown.push_back(fmt::format("{} with {} label{}", documents, count, count == 1 ? "" : "s"));
  }
  if (callbacks.on_note) {
    callbacks.on_note(fmt::format("multi-label{}: documents {}; one sigmoid output per label",
                                  config.model.multi_label ? "" : " (documents carry several labels)",
                                  fmt::join(shown, ", ")));
    if (!several) {
      callbacks.on_note(
          "warning: no document carries several labels: each label is learnt as its own yes/no; without "
          "--multi-label (model.multi_label) one label is chosen per document");
    }
  }
  Config decided = config;
  decided.model.multi_label = true;
  return decided;
}

}  // namespace

Model train_model(TokenizedCorpus train, std::optional<TokenizedCorpus> valid, const Config& config,
                  const TrainCallbacks& callbacks, TrainingReport* report_out, const CheckpointOptions& checkpoints,
                  const ExecutionOptions& execution) {
  validate(config);
  TokenizedCorpus* valid_corpus = valid ? &*valid : nullptr;
  const Config decided = with_multi_label(config, train, valid_corpus, checkpoints, callbacks);
  Trainer trainer(decided, callbacks, checkpoints, execution);
  trainer.prepare_data(train, valid_corpus);
  trainer.init_model(train.path);
  trainer.restore_checkpoint();
  return trainer.run(report_out);
}

Model train_model(const Corpus& train, const Corpus* valid, const Config& config, const TrainCallbacks& callbacks,
                  TrainingReport* report_out, const CheckpointOptions& checkpoints, const ExecutionOptions& execution) {
  const int threads = configure_threads(config.train.threads);
  const auto total = static_cast<int64_t>(train.documents.size() + (valid ? valid->documents.size() : 0));
  const auto tokenize = [&](const Corpus& corpus, int64_t done_before) {
    return tokenize_corpus(corpus, config.text, threads, [&](int64_t done) {
      if (!callbacks.on_progress) return;
      TrainingProgress p;
      p.stage = TrainingProgress::Stage::Tokenizing;
      p.done = done_before + done;
      p.total = total;
      callbacks.on_progress(p);
    });
  };
  TokenizedCorpus tokenized = tokenize(train, 0);
  std::optional<TokenizedCorpus> tokenized_valid;
  if (valid) tokenized_valid = tokenize(*valid, static_cast<int64_t>(train.documents.size()));
  return train_model(std::move(tokenized), std::move(tokenized_valid), config, callbacks, report_out, checkpoints,
                     execution);
}

}  // namespace han
