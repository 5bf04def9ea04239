#include "han/data/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "han/base/error.h"

namespace han {

using nlohmann::json;

namespace {

// What validate() accepts of one setting: a range, or a list of choices.
struct Rule {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool below_max = false;  // max itself is out
  bool above_min = false;  // min itself is out
  std::vector<std::string> choices;
  const char* message = nullptr;  // says the range better than the numbers
};
Rule at_least(double min, const char* message = nullptr) { return {min, Rule{}.max, false, false, {}, message}; }
Rule positive() { return {0, Rule{}.max, false, true, {}, nullptr}; }
Rule fraction() { return {0, 1, true, false, {}, nullptr}; }  // [0, 1)
Rule one_of(std::vector<std::string> choices) {
  return {Rule{}.min, Rule{}.max, false, false, std::move(choices), nullptr};
}

template <typename S>
using Member =
    std::variant<bool S::*, int S::*, int64_t S::*, uint64_t S::*, double S::*, std::string S::*, Engine S::*>;

// One row per setting: its key, where it lives and what it accepts. JSON
// output (model files, --dump-config), parsing (config files, --set) and
// validation all read these tables; defaults are the structs' initialisers.
template <typename S>
struct Field {
  const char* key;
  Member<S> member;
  Rule rule;
};

const std::vector<Field<TextOptions>>& text_fields() {
  static const std::vector<Field<TextOptions>> fields = {
      {"lowercase", &TextOptions::lowercase, {}},
      {"max_sentences", &TextOptions::max_sentences, at_least(1)},
      {"max_words", &TextOptions::max_words, at_least(1)},
      {"max_bytes", &TextOptions::max_bytes, at_least(0, "must be 0 (no cap) or more")},
      {"locale", &TextOptions::locale, {}},
      {"join_lines", &TextOptions::join_lines, {}},
  };
  return fields;
}

const std::vector<Field<ModelConfig>>& model_fields() {
  static const std::vector<Field<ModelConfig>> fields = {
      {"embedding_dim", &ModelConfig::embedding_dim, at_least(1)},
      {"word_hidden", &ModelConfig::word_hidden, at_least(1)},
      {"sentence_hidden", &ModelConfig::sentence_hidden, at_least(1)},
      {"word_attention", &ModelConfig::word_attention, at_least(1)},
      {"sentence_attention", &ModelConfig::sentence_attention, at_least(1)},
      {"dropout", &ModelConfig::dropout, fraction()},
      {"pooling", &ModelConfig::pooling, one_of({"attention", "mean", "max"})},
      {"multi_label", &ModelConfig::multi_label, {}},
  };
  return fields;
}

const std::vector<Field<TrainConfig>>& train_fields() {
  static const std::vector<Field<TrainConfig>> fields = {
      {"optimizer", &TrainConfig::optimizer, one_of({"sgd", "adam", "lazy_adam"})},
      {"learning_rate", &TrainConfig::learning_rate, positive()},
      {"momentum", &TrainConfig::momentum, fraction()},
      {"weight_decay", &TrainConfig::weight_decay, at_least(0)},
      {"clip_norm", &TrainConfig::clip_norm, at_least(0)},
      {"average", &TrainConfig::average, fraction()},
      {"word_dropout", &TrainConfig::word_dropout, fraction()},
      {"sentence_dropout", &TrainConfig::sentence_dropout, fraction()},
      {"batch_size", &TrainConfig::batch_size, at_least(1)},
      {"epochs", &TrainConfig::epochs, at_least(1)},
      {"patience", &TrainConfig::patience, at_least(1)},
      {"select_by", &TrainConfig::select_by, one_of({"accuracy", "macro_f1", "loss"})},
      {"class_weights", &TrainConfig::class_weights, {}},
      {"valid_fraction", &TrainConfig::valid_fraction, fraction()},
      {"seed", &TrainConfig::seed, {}},
      {"threads", &TrainConfig::threads, at_least(0)},
      {"min_count", &TrainConfig::min_count, at_least(1)},
      {"max_vocab", &TrainConfig::max_vocab, at_least(3, "must be at least 3 (PAD, UNK and one word)")},
      {"embeddings", &TrainConfig::embeddings, {}},
      {"embeddings_format", &TrainConfig::embeddings_format, one_of({"auto", "word2vec", "word2vec-binary", "glove"})},
      {"freeze_embeddings", &TrainConfig::freeze_embeddings, {}},
      {"pretrain_epochs", &TrainConfig::pretrain_epochs, at_least(0)},
      {"unlabeled", &TrainConfig::unlabeled, {}},
      {"time_budget", &TrainConfig::time_budget, at_least(0)},
      {"max_steps", &TrainConfig::max_steps, at_least(0)},
      {"refit", &TrainConfig::refit, one_of({"never", "auto", "always"})},
      {"engine", &TrainConfig::engine, {}},
  };
  return fields;
}

// Calls f(name, section, fields) for each section of `config` (a Config or a const Config).
template <typename C, typename F>
void for_each_section(C& config, F&& f) {
  f("text", config.text, text_fields());
  f("model", config.model, model_fields());
  f("train", config.train, train_fields());
}

void read_value(const json& section, const std::string& name, Engine& value) {
  if (!section.is_string())
    throw InputError(fmt::format("config: {} must be a string, found {}", name, section.dump()));
  try {
    value = engine_from_name(section.get<std::string>());
  } catch (const InputError& e) {
    throw InputError(fmt::format("config: {} {}", name, e.what()));
  }
}

// Reads json[key] into `value` when present, checking its type against the default's.
template <typename T>
void read_value(const json& section, const std::string& name, T& value) {
  try {
    if constexpr (std::is_same_v<T, bool>) {
      if (!section.is_boolean())
        throw InputError(fmt::format("config: {} must be true or false, found {}", name, section.dump()));
    } else if constexpr (std::is_integral_v<T>) {
      if (!section.is_number_integer())
        throw InputError(fmt::format("config: {} must be an integer, found {}", name, section.dump()));
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!section.is_number())
        throw InputError(fmt::format("config: {} must be a number, found {}", name, section.dump()));
    } else {
      if (!section.is_string())
        throw InputError(fmt::format("config: {} must be a string, found {}", name, section.dump()));
    }
    value = section.get<T>();
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

// "must be in [0, 1)", "must be at least 1", "must be positive", ...
std::string range_text(const Rule& r) {
  if (r.message) return r.message;
  const bool low = std::isfinite(r.min), high = std::isfinite(r.max);
  if (low && high)
    return fmt::format("must be in {}{}, {}{}", r.above_min ? '(' : '[', r.min, r.max, r.below_max ? ')' : ']');
  if (low && r.min == 0) return r.above_min ? "must be positive" : "must not be negative";
  if (low) return fmt::format("must be {} {}", r.above_min ? "above" : "at least", r.min);
  return fmt::format("must be {} {}", r.below_max ? "below" : "at most", r.max);
}

template <typename T>
void check_value(const std::string& name, const T& value, const Rule& rule) {
  if constexpr (std::is_same_v<T, Engine>) {
    return;  // only named engines parse
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (rule.choices.empty() || std::find(rule.choices.begin(), rule.choices.end(), value) != rule.choices.end())
      return;
    const std::string last = rule.choices.back();
    const std::vector<std::string> rest(rule.choices.begin(), rule.choices.end() - 1);
    throw UsageError(fmt::format("config: {} must be {} or {}, found '{}'", name, fmt::join(rest, ", "), last, value));
  } else if constexpr (!std::is_same_v<T, bool>) {
    const auto v = static_cast<double>(value);
    const bool ok = (rule.above_min ? v > rule.min : v >= rule.min) && (rule.below_max ? v < rule.max : v <= rule.max);
    if (!ok) throw UsageError(fmt::format("config: {} {}", name, range_text(rule)));
  }
}

template <typename T>
json json_value(const T& value) {
  return value;
}
json json_value(Engine engine) { return engine_name(engine); }

}  // namespace

const char* engine_name(Engine engine) { return engine == Engine::kFused ? "fused" : "reference"; }

Engine engine_from_name(const std::string& name) {
  if (name == "fused") return Engine::kFused;
  if (name == "reference") return Engine::kReference;
  throw InputError(fmt::format("must be fused or reference, found '{}'", name));
}

json to_json(const Config& c) {
  json out = json::object();
  for_each_section(c, [&](const char* name, const auto& section, const auto& fields) {
    json& j = out[name] = json::object();
    for (const auto& field : fields)
      std::visit([&](auto member) { j[field.key] = json_value(section.*member); }, field.member);
  });
  return out;
}

Config config_from_json(const json& j, const Config& base) {
  if (!j.is_object()) throw InputError("config: expected a JSON object");
  const json known = to_json(base);
  reject_unknown(j, "config", known);
  Config c = base;
  for_each_section(c, [&](const char* name, auto& section, const auto& fields) {
    if (!j.contains(name)) return;
    const json& s = j[name];
    if (!s.is_object()) throw InputError(fmt::format("config: {} must be an object", name));
    reject_unknown(s, name, known[name]);
    for (const auto& field : fields) {
      if (!s.contains(field.key)) continue;
      const std::string full = fmt::format("{}.{}", name, field.key);
      std::visit([&](auto member) { read_value(s[field.key], full, section.*member); }, field.member);
    }
  });
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
    throw UsageError(
        fmt::format("--set expects section.key=value (e.g. train.learning_rate=0.01), found '{}'", assignment));
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

void validate_values(const Config& c) {
  for_each_section(c, [](const char* name, const auto& section, const auto& fields) {
    for (const auto& field : fields) {
      const std::string full = fmt::format("{}.{}", name, field.key);
      std::visit([&](auto member) { check_value(full, section.*member, field.rule); }, field.member);
    }
  });
}

void validate(const Config& c) {
  validate_values(c);
  if (c.train.freeze_embeddings && c.train.embeddings.empty() && c.train.pretrain_epochs == 0) {
    throw UsageError(
        "config: train.freeze_embeddings needs train.embeddings or train.pretrain_epochs (frozen random vectors "
        "learn nothing): give vectors with --embeddings FILE, for example from han embed");
  }
  if (!c.train.unlabeled.empty() && !c.train.embeddings.empty()) {
    throw UsageError(
        "config: train.unlabeled is text to pretrain the word vectors on, but train.embeddings gives them: "
        "drop one (han embed can train vectors on both texts: han embed TRAIN UNLABELED -o vectors.vec)");
  }
  if (!c.train.unlabeled.empty() && c.train.pretrain_epochs == 0) {
    throw UsageError(
        "config: train.unlabeled is text to pretrain the word vectors on, but train.pretrain_epochs is 0 (no "
        "pretraining): set it, e.g. --set train.pretrain_epochs=5, or leave out --no-auto and the recipe chooses");
  }
}

}  // namespace han
