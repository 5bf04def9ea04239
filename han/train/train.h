// Training: tokenize, build the vocabulary from the training split, bucket
// documents by sentence count, and optimise with validation-driven early
// stopping. The library never prints: progress arrives through callbacks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <memory>
#include <optional>

#include <torch/optim/optimizer.h>
#include <nlohmann/json.hpp>

#include "han/data/data.h"
#include "han/model/model.h"
#include "han/train/checkpoint.h"
#include "han/train/recipe.h"
#include "han/train/train_state.h"

namespace han {

struct TrainingProgress {
  enum class Stage { Tokenizing, Pretraining, Training, Validating };  // Pretraining: done/total are words
  Stage stage = Stage::Training;
  int epoch = 0;  // 1-based; 0 while tokenizing
  int epochs = 0;
  int64_t done = 0;  // documents so far in this stage
  int64_t total = 0;
  double loss = 0;  // running mean over the epoch so far
  double docs_per_second = 0;
};

struct TrainingReport {
  TextReport train_text;
  TextReport valid_text;
  int64_t train_documents = 0;
  int64_t valid_documents = 0;
  int64_t vocabulary_size = 0;
  double unknown_rate_valid = 0;   // share of validation tokens mapped to UNK
  EmbeddingLoadReport embeddings;  // when pretrained vectors were given
  std::vector<EpochSummary> epochs;
  int best_epoch = 0;
  bool stopped_early = false;
  bool interrupted = false;  // stopped on request; a checkpoint holds the state
  bool resumed = false;      // continued from a checkpoint
  int64_t steps = 0;         // batches applied, over all epochs
  int refit_epochs = 0;      // train.refit: epochs of the refit on all the training data; 0 when none ran
  int64_t refit_documents = 0;
  int64_t unlabeled_documents = 0;  // train.unlabeled's text, read for the word vectors
  int64_t unlabeled_tokens = 0;
  int64_t unlabeled_words = 0;  // vocabulary words seen only in it
  double seconds = 0;
};

// What a finished run did, for the model file (Model::training, which
// train_model fills in): documents, epochs, the kept epoch and its validation
// scores, the refit, the unlabeled text.
nlohmann::json training_record(const TrainingReport& report);

struct TrainCallbacks {
  std::function<void(const TrainingProgress&)> on_progress;
  std::function<void(const EpochSummary&)> on_epoch;
  std::function<void(const std::string&)> on_note;  // one-line notes, e.g. the validation split
};

struct EncodedDocument;
class Communicator;

// Where training runs: one device, and in a data-parallel run (distributed.h)
// this process's group. Every rank computes the gradient of its share of each
// batch; the sums are exchanged, so every rank applies the same step.
struct ExecutionOptions {
  torch::Device device = torch::kCPU;  // not the CPU: the reference engine runs there (cuDNN's GRUs on CUDA)
  Communicator* group = nullptr;       // null: this process trains alone
  bool mixed_precision = false;        // CUDA only: float16 autocast with dynamic loss scaling
};

// Dynamic loss scaling for mixed precision, as PyTorch's GradScaler does:
// the loss is multiplied by scale() before the backward pass, so that small
// float16 gradients do not flush to zero. A step whose gradients overflow is
// skipped and the scale halved; after `growth_interval` good steps in a row
// it doubles.
class LossScaler {
 public:
  explicit LossScaler(double initial_scale = 65536.0, int growth_interval = 2000);
  double scale() const { return scale_; }
  // Divides every gradient by scale(); false when any is not finite (skip the step).
  bool unscale(const std::vector<torch::Tensor>& parameters) const;
  void update(bool gradients_finite);

 private:
  double scale_;
  int growth_interval_;
  int good_steps_ = 0;
};

// One optimisation step at a time on encoded documents: the gradient of the
// batch's mean cross-entropy (by config.train.engine, on `threads` threads
// that split the batch), clipping, then the optimizer's step. train_model
// drives it; benchmarks and tests may too.
class BatchTrainer {
 public:
  // The network must be on execution.device already. `class_weights`
  // multiply each document's cross-entropy by its label's weight (empty: all 1).
  BatchTrainer(HierarchicalAttentionNetwork network, const Config& config, int threads,
               const ExecutionOptions& execution = {}, std::vector<float> class_weights = {});
  ~BatchTrainer();

  struct Step {
    double loss_sum = 0;  // cross-entropy summed over the batch (every rank's share)
    int64_t correct = 0;
    bool applied = false;  // false when the loss is not finite: the weights are left as they were
    bool stop = false;     // some rank passed stop_requested (without a group: this one did)
  };
  // `step_number` (0-based, over the whole run) seeds the dropout masks. In a
  // data-parallel run every rank passes the same whole batch and works on its
  // contiguous share: rank r of N takes documents [r*n/N, (r+1)*n/N).
  Step step(const std::vector<const EncodedDocument*>& batch, int64_t step_number, bool stop_requested = false);

  // Frees the per-thread buffers (they grow back at the next step): called
  // before validation and checkpoints, so their peaks do not add up.
  void release_buffers();

  torch::optim::Optimizer& optimizer();
  const std::vector<torch::Tensor>& parameters() const;  // those that train

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The weights of train.class_weights for labels with `counts` training
// documents each, in label order: empty for "none" (all 1); "balanced" gives
// documents / (labels * count), as scikit-learn's; any other value is the path
// of a JSON object {"label": weight} (labels it does not name weigh 1).
// Throws InputError naming the file and what is wrong in it.
std::vector<float> class_weights_for(const std::string& setting, const LabelSet& labels,
                                     const std::vector<int64_t>& counts);

// Word dropout: a copy of `document` with each word replaced by UNK with
// probability `rate`. The draws depend only on `seed` (which train_model
// derives from the run's seed, the step and the document's place in the
// whole batch), so they are the same for any threads, ranks or resume.
EncodedDocument drop_words(EncodedDocument document, double rate, uint64_t seed);

// Sentence dropout: a copy of `document` without each sentence with
// probability `rate`, keeping at least one; seeded like drop_words.
EncodedDocument drop_sentences(const EncodedDocument& document, double rate, uint64_t seed);

// Checkpoints make a run survive interruption: written atomically after every
// epoch and every `every_steps` batches, and when `stop` becomes true (from a
// signal handler), after which training returns with report.interrupted set.
// (clang-tidy: nlohmann::json's destructor allocates a stack to free nested
// values, so out of memory there ends the program, as in any destructor.)
struct CheckpointOptions {       // NOLINT(bugprone-exception-escape)
  std::string path;              // empty: no checkpoints
  int64_t every_steps = 0;       // 0: only after each epoch
  Checkpoint* resume = nullptr;  // continue this run (its model is moved out)
  // A warm start (fine-tuning, more epochs): the run takes this model's
  // vocabulary, labels and weights instead of building its own; `config`'s
  // model and text sections must be its own.
  const Model* init = nullptr;
  const std::atomic<bool>* stop = nullptr;
  nlohmann::json run;  // stored in each checkpoint, for the program
  // Where pretrained word vectors are kept, by a digest of the training text
  // and the pretraining settings, for a later run on the same split; empty:
  // pretrained every time.
  std::string cache_folder;
  // How train.unlabeled is read where it is a CSV, TSV or JSON Lines file:
  // the training corpus's text_field, delimiter and no_header, so that text
  // in the same layout reads the same way. Labels are never required.
  CorpusOptions unlabeled_reader;
};

// `valid` may be null: then config.train.valid_fraction of `train` is held
// out, stratified by label and seeded. Returns the model of the best epoch,
// on the CPU. In a data-parallel run every rank reads the same corpora and
// config; validation is shared out between the ranks, and only rank 0 writes
// checkpoints (and, by convention, the model and logs).
// Throws InputError when validation labels are unknown to the training data.
// With checkpoints.resume, `config` must be the checkpoint's and the corpora
// the same as before; an InputError says so when the vocabulary or labels differ.
// Corpora tokenized with config.text (load_tokenized, tokenize_corpus):
// their documents are moved into the run.
Model train_model(TokenizedCorpus train, std::optional<TokenizedCorpus> valid, const Config& config,
                  const TrainCallbacks& callbacks = {}, TrainingReport* report = nullptr,
                  const CheckpointOptions& checkpoints = {}, const ExecutionOptions& execution = {});
// The same for corpora read as text: tokenizes them first.
Model train_model(const Corpus& train, const Corpus* valid, const Config& config, const TrainCallbacks& callbacks = {},
                  TrainingReport* report = nullptr, const CheckpointOptions& checkpoints = {},
                  const ExecutionOptions& execution = {});

}  // namespace han
