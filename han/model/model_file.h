// One versioned file carries everything needed to use a model: config
// (tokenizer settings included), vocabulary, labels and weights.
//
// Layout (little-endian), format version 1:
//   "HANMODEL"  u32 format_version  u64 header_bytes  header (JSON)
//   u64 weight_bytes  weights (float32, in the header's tensor order)  u32 CRC-32 of all before it
// docs/FORMATS.md describes the header.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "han/base/file_io.h"  // check_output_path, write_file_atomically
#include "han/data/data.h"
#include "han/model/network.h"

namespace han {

constexpr uint32_t kModelFormatVersion = 1;

struct Model {
  Config config;
  Vocabulary vocabulary;
  LabelSet labels;
  HierarchicalAttentionNetwork network{nullptr};
  // What han train chose from the corpus, as [{"key", "value", "reason"}]
  // (empty when nothing was chosen); kept in the file for han inspect.
  nlohmann::json choices = nlohmann::json::array();
  // The weight of each label's documents in the training loss (train.class_weights),
  // in label order; empty when every label weighed 1.
  std::vector<float> class_weights;
  // Multi-label models (config.model.multi_label): each label's decision
  // threshold on its sigmoid probability, tuned on validation data, in label
  // order; empty for single-label models.
  std::vector<float> thresholds{};
  // The corpus fields training was told to read ({"text_field": ..., "label_field": ...},
  // only those given): evaluate reads a corpus of the same shape without being told again.
  nlohmann::json fields = nlohmann::json::object();
  // What training did (documents, epochs, the best one's validation scores,
  // the refit), as han train records it; empty when not recorded (models of
  // earlier versions, or not trained by han train).
  nlohmann::json training = nlohmann::json::object();
};

// Builds a fresh network of the config's sizes.
Model make_model(const Config& config, Vocabulary vocabulary, LabelSet labels);

// Written to a temporary file beside `path`, flushed to disk, then renamed:
// a crash never leaves a half-written model under `path`.
void save_model(const Model& model, const std::string& path);
void save_model(const Model& model, std::ostream& out);

// Throws ModelFileError naming the path on a missing, truncated, damaged or
// foreign file, or one of another format version.
Model load_model(const std::string& path);
Model load_model(std::istream& in, const std::string& name);

// The bytes of a model file, and back (checkpoints embed a model this way).
std::string serialize_model(const Model& model);

// What `han inspect --json` and `GET /v1/model` show: format_version,
// han_version, config, vocabulary_size, labels and parameters.
nlohmann::json describe_model(const Model& model);
Model deserialize_model(const std::string& bytes, const std::string& name);

}  // namespace han
