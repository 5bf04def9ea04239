// Hyper-parameters in one place. The built-in defaults are the paper's sizes
// with Adam, which needs no learning-rate search; configs/han-paper.json holds
// the paper's SGD with momentum. `han train --dump-config` prints the merged result.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "han/text/text.h"

namespace han {

struct ModelConfig {
  int embedding_dim = 200;
  int word_hidden = 50;      // per GRU direction
  int sentence_hidden = 50;  // per GRU direction
  int word_attention = 100;  // size of the word context vector u_w
  int sentence_attention = 100;
  double dropout = 0.0;  // on sentence and document vectors, training only
  // How each level pools its GRU states into one vector: "attention" (the
  // HAN), or the paper's ablations "mean" (HN-AVE) and "max" (HN-MAX).
  std::string pooling = "attention";
  // One sigmoid output per label and binary cross-entropy, for documents
  // with any number of labels; else one softmax over the labels. Training
  // turns it on when a document has several labels.
  bool multi_label = false;
};

// How training computes gradients (train.engine in configs and model files).
enum class Engine {
  kFused,      // "fused": the hand-written kernels of kernels/fused.h (CPU)
  kReference,  // "reference": the plain LibTorch modules with autograd: slower,
               // the same function, for checking (and the CUDA path)
};
const char* engine_name(Engine engine);
// Throws InputError naming the choices for anything else.
Engine engine_from_name(const std::string& name);

struct TrainConfig {
  std::string optimizer = "adam";  // "adam", "lazy_adam" (embedding rows a batch used only) or "sgd" (momentum)
  double learning_rate = 0.001;
  double momentum = 0.9;
  double weight_decay = 0.0;
  double clip_norm = 5.0;  // gradient-norm clipping; 0 turns it off
  // Exponential moving average of the weights after each step, with this
  // decay (0: off): validation and the saved model use the average.
  double average = 0.0;
  // Share of word tokens replaced by UNK in each training step (0: off), so
  // the model learns to read documents whose words it has not seen.
  double word_dropout = 0.0;
  // Share of sentences left out of each training document in each step (0:
  // off; at least one is kept), so no single sentence carries a document.
  double sentence_dropout = 0.0;
  int batch_size = 64;
  int epochs = 6;
  int patience = 2;  // epochs without a better validation score before stopping
  // The validation score that picks the best epoch: "accuracy", "macro_f1"
  // (the mean of the per-label F1, which a rare label weighs as much as a
  // common one) or "loss" (the lowest validation cross-entropy).
  std::string select_by = "accuracy";
  // Weights of the classes in the training loss: "none" (all 1), "balanced"
  // (documents / (classes * documents of the class), as scikit-learn's) or
  // the path of a JSON object {"label": weight} (labels not named weigh 1).
  std::string class_weights = "none";
  double valid_fraction = 0.1;  // held out from the training data when no --valid is given
  uint64_t seed = 1;
  int threads = 0;        // CPU threads; 0: all cores
  int min_count = 6;      // keep words seen at least this often (paper: more than 5)
  int max_vocab = 50000;  // PAD and UNK included
  // Pretrained word vectors (word2vec text or binary, GloVe; gzipped too):
  // they initialise the embeddings of the words they cover.
  std::string embeddings;                  // path; empty: random initialisation
  std::string embeddings_format = "auto";  // auto, word2vec, word2vec-binary, glove
  bool freeze_embeddings = false;          // keep them fixed instead of fine-tuning
  // Without train.embeddings: passes of skip-gram over the training text that
  // pretrain the vectors of the vocabulary before training (0: off, random
  // initialisation).
  int pretrain_epochs = 0;
  // Text without labels (a file or folder in any corpus format, labels
  // ignored) that the pretraining reads besides the training text: its
  // frequent words join the vocabulary, and it is read once over all the
  // passes. Empty: none.
  std::string unlabeled;
  // Seconds this run may train (0: no limit): no epoch starts that would end
  // past it, judged by the last epoch's time. It makes the result depend on
  // the machine's speed.
  double time_budget = 0;
  // Batches training may take in all, a resumed run's earlier ones included
  // (0: no limit): the epoch they end in is the last, validated and kept
  // like any other.
  int max_steps = 0;
  // After early stopping on a split held out of the training data, train a
  // fresh model on all of it (that split too) for the best epoch's count of
  // epochs and keep its last weights: "never", "always", or "auto" (only when
  // that reads at most about 80 M tokens, so that a long run does not double).
  std::string refit = "never";
  Engine engine = Engine::kFused;
};

struct Config {
  TextOptions text;
  ModelConfig model;
  TrainConfig train;
};

nlohmann::json to_json(const Config& config);
// Reads a full or partial configuration on top of `base`. Unknown keys and
// values of the wrong type throw InputError naming the key.
Config config_from_json(const nlohmann::json& json, const Config& base = {});
Config load_config(const std::string& path, const Config& base = {});
// Applies "section.key=value" (e.g. "train.learning_rate=0.01").
Config apply_override(const Config& config, const std::string& assignment);
// Throws UsageError when a value is out of range.
void validate_values(const Config& config);
// validate_values, and settings that need each other (frozen embeddings need vectors).
void validate(const Config& config);

}  // namespace han
