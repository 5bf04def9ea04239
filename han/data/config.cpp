#include "han/data/config.h"

#include <fstream>
#include <set>

#include <fmt/format.h>

#include "han/base/error.h"

namespace han {

using nlohmann::json;

json to_json(const Config& c) {
  return json{
      {"text",
       {{"lowercase", c.text.lowercase},
        {"max_sentences", c.text.max_sentences},
        {"max_words", c.text.max_words},
        {"max_bytes", c.text.max_bytes},
        {"locale", c.text.locale},
        {"join_lines", c.text.join_lines}}},
      {"model",
       {{"embedding_dim", c.model.embedding_dim},
        {"word_hidden", c.model.word_hidden},
        {"sentence_hidden", c.model.sentence_hidden},
        {"word_attention", c.model.word_attention},
        {"sentence_attention", c.model.sentence_attention},
        {"dropout", c.model.dropout}}},
      {"train",
       {{"optimizer", c.train.optimizer},
        {"learning_rate", c.train.learning_rate},
        {"momentum", c.train.momentum},
        {"weight_decay", c.train.weight_decay},
        {"clip_norm", c.train.clip_norm},
        {"average", c.train.average},
        {"word_dropout", c.train.word_dropout},
        {"sentence_dropout", c.train.sentence_dropout},
        {"batch_size", c.train.batch_size},
        {"epochs", c.train.epochs},
        {"patience", c.train.patience},
        {"valid_fraction", c.train.valid_fraction},
        {"seed", c.train.seed},
        {"threads", c.train.threads},
        {"min_count", c.train.min_count},
        {"max_vocab", c.train.max_vocab},
        {"embeddings", c.train.embeddings},
        {"embeddings_format", c.train.embeddings_format},
        {"freeze_embeddings", c.train.freeze_embeddings},
        {"engine", c.train.engine}}},
  };
}

namespace {

// Reads json[key] into `value` when present, checking its type against the default's.
template <typename T>
void read_value(const json& section, const std::string& section_name, const std::string& key, T& value) {
  auto it = section.find(key);
  if (it == section.end()) return;
  const std::string name = section_name + "." + key;
  try {
    if constexpr (std::is_same_v<T, bool>) {
      if (!it->is_boolean()) throw InputError(fmt::format("config: {} must be true or false, found {}", name, it->dump()));
    } else if constexpr (std::is_integral_v<T>) {
      if (!it->is_number_integer()) throw InputError(fmt::format("config: {} must be an integer, found {}", name, it->dump()));
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!it->is_number()) throw InputError(fmt::format("config: {} must be a number, found {}", name, it->dump()));
    } else {
      if (!it->is_string()) throw InputError(fmt::format("config: {} must be a string, found {}", name, it->dump()));
    }
    value = it->get<T>();
  } catch (const json::exception& e) {
    throw InputError(fmt::format("config: {}: {}", name, e.what()));
  }
}

void reject_unknown(const json& section, const std::string& section_name, const json& known) {
  for (auto it = section.begin(); it != section.end(); ++it) {
    if (!known.contains(it.key())) {
      std::string names;
      for (auto k = known.begin(); k != known.end(); ++k) names += (names.empty() ? "" : ", ") + k.key();
      throw InputError(fmt::format("config: unknown key {}.{} (known: {})", section_name, it.key(), names));
    }
  }
}

}  // namespace

Config config_from_json(const json& j, const Config& base) {
  if (!j.is_object()) throw InputError("config: expected a JSON object");
  const json known = to_json(base);
  reject_unknown(j, "config", known);
  Config c = base;
  if (j.contains("text")) {
    const json& s = j["text"];
    if (!s.is_object()) throw InputError("config: text must be an object");
    reject_unknown(s, "text", known["text"]);
    read_value(s, "text", "lowercase", c.text.lowercase);
    read_value(s, "text", "max_sentences", c.text.max_sentences);
    read_value(s, "text", "max_words", c.text.max_words);
    read_value(s, "text", "max_bytes", c.text.max_bytes);
    read_value(s, "text", "locale", c.text.locale);
    read_value(s, "text", "join_lines", c.text.join_lines);
  }
  if (j.contains("model")) {
    const json& s = j["model"];
    if (!s.is_object()) throw InputError("config: model must be an object");
    reject_unknown(s, "model", known["model"]);
    read_value(s, "model", "embedding_dim", c.model.embedding_dim);
    read_value(s, "model", "word_hidden", c.model.word_hidden);
    read_value(s, "model", "sentence_hidden", c.model.sentence_hidden);
    read_value(s, "model", "word_attention", c.model.word_attention);
    read_value(s, "model", "sentence_attention", c.model.sentence_attention);
    read_value(s, "model", "dropout", c.model.dropout);
  }
  if (j.contains("train")) {
    const json& s = j["train"];
    if (!s.is_object()) throw InputError("config: train must be an object");
    reject_unknown(s, "train", known["train"]);
    read_value(s, "train", "optimizer", c.train.optimizer);
    read_value(s, "train", "learning_rate", c.train.learning_rate);
    read_value(s, "train", "momentum", c.train.momentum);
    read_value(s, "train", "weight_decay", c.train.weight_decay);
    read_value(s, "train", "clip_norm", c.train.clip_norm);
    read_value(s, "train", "average", c.train.average);
    read_value(s, "train", "word_dropout", c.train.word_dropout);
    read_value(s, "train", "sentence_dropout", c.train.sentence_dropout);
    read_value(s, "train", "batch_size", c.train.batch_size);
    read_value(s, "train", "epochs", c.train.epochs);
    read_value(s, "train", "patience", c.train.patience);
    read_value(s, "train", "valid_fraction", c.train.valid_fraction);
    read_value(s, "train", "seed", c.train.seed);
    read_value(s, "train", "threads", c.train.threads);
    read_value(s, "train", "min_count", c.train.min_count);
    read_value(s, "train", "max_vocab", c.train.max_vocab);
    read_value(s, "train", "embeddings", c.train.embeddings);
    read_value(s, "train", "embeddings_format", c.train.embeddings_format);
    read_value(s, "train", "freeze_embeddings", c.train.freeze_embeddings);
    read_value(s, "train", "engine", c.train.engine);
  }
  return c;
}

Config load_config(const std::string& path, const Config& base) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open config file", path));
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
  try {
    return config_from_json(j, base);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", path, e.what()));
  }
}

Config apply_override(const Config& config, const std::string& assignment) {
  const auto eq = assignment.find('=');
  const auto dot = assignment.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq) {
    throw UsageError(fmt::format("--set expects section.key=value (e.g. train.learning_rate=0.01), found '{}'", assignment));
  }
  const std::string section = assignment.substr(0, dot);
  const std::string key = assignment.substr(dot + 1, eq - dot - 1);
  const std::string text = assignment.substr(eq + 1);
  json value;
  try {
    value = json::parse(text);
  } catch (const json::exception&) {
    value = text;  // a bare word such as adam is a string
  }
  try {
    return config_from_json(json{{section, {{key, value}}}}, config);
  } catch (const InputError& e) {
    throw UsageError(fmt::format("--set {}: {}", assignment, e.what()));
  }
}

void validate(const Config& c) {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw UsageError("config: " + message);
  };
  require(c.text.max_sentences >= 1, "text.max_sentences must be at least 1");
  require(c.text.max_words >= 1, "text.max_words must be at least 1");
  require(c.text.max_bytes >= 0, "text.max_bytes must be 0 (no cap) or more");
  require(c.model.embedding_dim >= 1 && c.model.word_hidden >= 1 && c.model.sentence_hidden >= 1 &&
              c.model.word_attention >= 1 && c.model.sentence_attention >= 1,
          "model sizes must be at least 1");
  require(c.model.dropout >= 0 && c.model.dropout < 1, "model.dropout must be in [0, 1)");
  require(c.train.optimizer == "sgd" || c.train.optimizer == "adam",
          fmt::format("train.optimizer must be sgd or adam, found '{}'", c.train.optimizer));
  require(c.train.learning_rate > 0, "train.learning_rate must be positive");
  require(c.train.momentum >= 0 && c.train.momentum < 1, "train.momentum must be in [0, 1)");
  require(c.train.weight_decay >= 0, "train.weight_decay must not be negative");
  require(c.train.clip_norm >= 0, "train.clip_norm must not be negative");
  require(c.train.average >= 0 && c.train.average < 1, "train.average must be at least 0 and below 1");
  require(c.train.word_dropout >= 0 && c.train.word_dropout < 1, "train.word_dropout must be in [0, 1)");
  require(c.train.sentence_dropout >= 0 && c.train.sentence_dropout < 1, "train.sentence_dropout must be in [0, 1)");
  require(c.train.batch_size >= 1, "train.batch_size must be at least 1");
  require(c.train.epochs >= 1, "train.epochs must be at least 1");
  require(c.train.patience >= 1, "train.patience must be at least 1");
  require(c.train.valid_fraction >= 0 && c.train.valid_fraction < 1, "train.valid_fraction must be in [0, 1)");
  require(c.train.threads >= 0, "train.threads must not be negative");
  require(c.train.min_count >= 1, "train.min_count must be at least 1");
  require(c.train.embeddings_format == "auto" || c.train.embeddings_format == "word2vec" ||
              c.train.embeddings_format == "word2vec-binary" || c.train.embeddings_format == "glove",
          fmt::format("train.embeddings_format must be auto, word2vec, word2vec-binary or glove, found '{}'",
                      c.train.embeddings_format));
  require(!c.train.freeze_embeddings || !c.train.embeddings.empty(),
          "train.freeze_embeddings needs train.embeddings (frozen random vectors learn nothing): "
          "give vectors with --embeddings FILE, for example from han embed");
  require(c.train.engine == "fused" || c.train.engine == "reference",
          fmt::format("train.engine must be fused or reference, found '{}'", c.train.engine));
  require(c.train.max_vocab >= 3, "train.max_vocab must be at least 3 (PAD, UNK and one word)");
}

}  // namespace han
