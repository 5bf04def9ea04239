#include "han/model/model_file.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "han/base/bytes.h"
#include "han/base/error.h"

namespace han {

namespace fs = std::filesystem;
using bytes::crc32_of;
using bytes::get;
using bytes::put;
using nlohmann::json;

namespace {

constexpr char kMagic[8] = {'H', 'A', 'N', 'M', 'O', 'D', 'E', 'L'};

// {"label": value}, for people and programs.
json per_label_json(const std::vector<float>& values, const LabelSet& labels) {
  json out = json::object();
  for (size_t k = 0; k < values.size(); ++k) out[labels.names()[k]] = values[k];
  return out;
}
json class_weights_json(const Model& model) { return per_label_json(model.class_weights, model.labels); }

// The header's {"label": value}, in label order; every label present and
// each value finite, from `low` to `high`.
std::vector<float> read_per_label(const json& values, const LabelSet& labels, const char* key, double low,
                                  double high) {
  if (!values.is_object()) throw std::invalid_argument(fmt::format("'{}' is not an object", key));
  if (values.size() != static_cast<size_t>(labels.size()))
    throw std::invalid_argument(fmt::format("'{}' does not name every label", key));
  std::vector<float> out;
  for (const std::string& label : labels.names()) {
    const json& w = values.at(label);
    if (!w.is_number() || !std::isfinite(w.get<double>()) || w.get<double>() < low || w.get<double>() > high) {
      throw std::invalid_argument(fmt::format("{} of '{}' is not a number from {:g} to {:g}", key, label, low, high));
    }
    out.push_back(w.get<float>());
  }
  return out;
}

}  // namespace

std::string serialize_model(const Model& model) {
  json tensors = json::array();
  std::string weights;
  for (const auto& item : model.network->named_parameters()) {
    auto tensor = item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
    tensors.push_back({{"name", item.key()}, {"shape", tensor.sizes().vec()}, {"dtype", "float32"}});
    weights.append(static_cast<const char*>(tensor.data_ptr()), static_cast<size_t>(tensor.nbytes()));
  }
  json header = {
      {"format_version", kModelFormatVersion},  {"han_version", HAN_VERSION},     {"config", to_json(model.config)},
      {"vocabulary", model.vocabulary.words()}, {"labels", model.labels.names()}, {"tensors", tensors},
  };
  if (!model.choices.empty()) header["choices"] = model.choices;
  if (!model.fields.empty()) header["fields"] = model.fields;
  if (!model.training.empty()) header["training"] = model.training;
  if (!model.class_weights.empty()) header["class_weights"] = class_weights_json(model);
  if (!model.thresholds.empty()) header["thresholds"] = per_label_json(model.thresholds, model.labels);
  const std::string header_text = header.dump();

  std::string out(kMagic, sizeof(kMagic));
  put<uint32_t>(out, kModelFormatVersion);
  put<uint64_t>(out, header_text.size());
  out += header_text;
  put<uint64_t>(out, weights.size());
  out += weights;
  put<uint32_t>(out, crc32_of(out.data(), out.size()));
  return out;
}

Model deserialize_model(const std::string& bytes, const std::string& name) {
  auto fail = [&](const std::string& what) { return ModelFileError(fmt::format("{}: {}", name, what)); };
  if (bytes.size() < sizeof(kMagic) || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    throw fail("not a han model file (no HANMODEL signature)");
  }
  if (bytes.size() < sizeof(kMagic) + 4) throw fail("truncated model file");
  const auto version = get<uint32_t>(bytes, 8);
  if (version != kModelFormatVersion) {
    throw fail(fmt::format("model format version {} is not supported (this han reads version {}){}", version,
                           kModelFormatVersion,
                           version > kModelFormatVersion ? "; it was written by a newer han" : ""));
  }
  size_t offset = 12;
  auto need = [&](uint64_t count) {
    if (count > bytes.size() || offset + count > bytes.size()) {
      throw fail(fmt::format("truncated model file ({} bytes)", bytes.size()));
    }
  };
  need(8);
  const auto header_size = get<uint64_t>(bytes, offset);
  offset += 8;
  need(header_size);
  const size_t header_offset = offset;
  offset += header_size;
  need(8);
  const auto weight_size = get<uint64_t>(bytes, offset);
  offset += 8;
  need(weight_size);
  const size_t weight_offset = offset;
  offset += weight_size;
  need(4);
  if (offset + 4 != bytes.size()) throw fail("unexpected bytes after the end of the model");
  if (get<uint32_t>(bytes, offset) != crc32_of(bytes.data(), offset)) {
    throw fail("model file is damaged (checksum mismatch)");
  }

  json header;
  try {
    header = json::parse(bytes.begin() + static_cast<std::ptrdiff_t>(header_offset),
                         bytes.begin() + static_cast<std::ptrdiff_t>(header_offset + header_size));
    const Config config = config_from_json(header.at("config"));
    validate(config);
    Vocabulary vocabulary(header.at("vocabulary").get<std::vector<std::string>>());
    LabelSet labels(header.at("labels").get<std::vector<std::string>>());
    // Allocate only what the file actually holds.
    const double expected = expected_parameter_count(config.model, vocabulary.size(), labels.size());
    if (expected * sizeof(float) != static_cast<double>(weight_size)) {
      throw fail(fmt::format("the configuration needs {:.0f} parameters, but the file holds {} bytes of weights",
                             expected, weight_size));
    }
    Model model = make_model(config, std::move(vocabulary), std::move(labels));
    auto parameters = model.network->named_parameters();
    const json& tensors = header.at("tensors");
    if (tensors.size() != parameters.size()) {
      throw fail(fmt::format("model holds {} tensors, expected {}", tensors.size(), parameters.size()));
    }
    torch::NoGradGuard no_grad;
    size_t at = weight_offset;
    for (const json& entry : tensors) {
      const auto tensor_name = entry.at("name").get<std::string>();
      auto* parameter = parameters.find(tensor_name);
      if (!parameter) throw fail(fmt::format("unexpected tensor '{}'", tensor_name));
      const auto shape = entry.at("shape").get<std::vector<int64_t>>();
      if (entry.contains("dtype") && entry["dtype"] != "float32") {
        throw fail(
            fmt::format("tensor '{}' has dtype {}; this version reads float32", tensor_name, entry["dtype"].dump()));
      }
      if (shape != parameter->sizes().vec()) {
        throw fail(fmt::format("tensor '{}' has shape {}, expected {}", tensor_name, json(shape).dump(),
                               json(parameter->sizes().vec()).dump()));
      }
      const size_t size = static_cast<size_t>(parameter->numel()) * sizeof(float);
      if (at + size > weight_offset + weight_size) throw fail("weights are shorter than the tensors listed");
      auto source = torch::from_blob(const_cast<char*>(bytes.data() + at), shape, torch::kFloat32);
      if (!torch::isfinite(source).all().item<bool>()) {
        throw fail(
            fmt::format("tensor '{}' holds NaN or infinite values: the model is damaged, or its training "
                        "diverged",
                        tensor_name));
      }
      parameter->copy_(source);
      at += size;
    }
    if (at != weight_offset + weight_size) throw fail("weights are longer than the tensors listed");
    if (header.contains("choices")) {
      if (!header["choices"].is_array()) throw fail("'choices' is not a list");
      model.choices = header["choices"];
    }
    if (header.contains("fields")) {
      const json& fields = header["fields"];
      if (!fields.is_object()) throw fail("'fields' is not an object");
      for (const auto& [key, value] : fields.items()) {
        if (!value.is_string() && !value.is_boolean()) throw fail(fmt::format("field '{}' is not a string", key));
      }
      model.fields = fields;
    }
    if (header.contains("training")) {
      if (!header["training"].is_object()) throw fail("'training' is not an object");
      for (const auto& [key, value] : header["training"].items()) {
        if (!value.is_number() && !value.is_boolean())
          throw fail(fmt::format("training record '{}' is not a number", key));
      }
      model.training = header["training"];
    }
    if (header.contains("class_weights"))
      model.class_weights = read_per_label(header["class_weights"], model.labels, "class_weights", 0, 1e30);
    if (header.contains("thresholds"))
      model.thresholds = read_per_label(header["thresholds"], model.labels, "thresholds", 0, 1);
    if (model.config.model.multi_label && model.thresholds.empty()) {
      model.thresholds.assign(static_cast<size_t>(model.labels.size()), 0.5f);
    }
    return model;
  } catch (const ModelFileError&) {
    throw;
  } catch (const std::exception& e) {
    throw fail(fmt::format("invalid model header ({})", e.what()));
  }
}

namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

Model make_model(const Config& config, Vocabulary vocabulary, LabelSet labels) {
  Model model{config, std::move(vocabulary), std::move(labels), nullptr, nlohmann::json::array(), {}};
  model.network = HierarchicalAttentionNetwork(config.model, model.vocabulary.size(), model.labels.size());
  return model;
}

void save_model(const Model& model, std::ostream& out) {
  const std::string bytes = serialize_model(model);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw InputError("cannot write the model");
}

void save_model(const Model& model, const std::string& path) { write_file_atomically(path, serialize_model(model)); }

Model load_model(std::istream& in, const std::string& name) {
  // The signature first: /dev/zero or a large foreign file fails after 8
  // bytes instead of being read whole.
  std::string bytes(sizeof(kMagic), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) throw ModelFileError(fmt::format("{}: cannot read", name));
  if (bytes.size() < sizeof(kMagic) || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return deserialize_model(bytes, name);  // names what is wrong
  }
  // Then only as many bytes as the sections declare, each size checked once
  // read: a foreign or damaged file fails at its first bad field, and at
  // most one byte past the declared end is read (to report it).
  const auto read_more = [&](uint64_t count) {
    const size_t start = bytes.size();
    while (bytes.size() - start < count && in) {
      const size_t at = bytes.size();
      const size_t step = static_cast<size_t>(std::min<uint64_t>(count - (at - start), 64u << 20));
      bytes.resize(at + step);  // in steps, so that a size that lies allocates no more than the file holds
      in.read(bytes.data() + at, static_cast<std::streamsize>(step));
      bytes.resize(at + static_cast<size_t>(in.gcount()));
    }
    if (in.bad()) throw ModelFileError(fmt::format("{}: cannot read", name));
    return bytes.size() - start == count;
  };
  const auto size_at = [&](size_t offset) { return get<uint64_t>(bytes, offset); };
  constexpr uint64_t kMaxHeaderBytes = uint64_t{1} << 30;
  if (!read_more(4) || get<uint32_t>(bytes, 8) != kModelFormatVersion || !read_more(8) ||
      size_at(12) > kMaxHeaderBytes || !read_more(size_at(12)) || !read_more(8) ||
      !read_more(size_at(20 + size_at(12))) || !read_more(4)) {
    if (bytes.size() >= 20 && size_at(12) > kMaxHeaderBytes) {
      throw ModelFileError(
          fmt::format("{}: model header of {} bytes: the file is damaged or not a han model", name, size_at(12)));
    }
    return deserialize_model(bytes, name);  // names what is wrong
  }
  read_more(1);
  return deserialize_model(bytes, name);
}

Model load_model(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw ModelFileError(fmt::format("{}: is a folder, not a model file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelFileError(fmt::format("{}: cannot open model file ({})", path, errno_text()));
  return load_model(in, path);
}

nlohmann::json describe_model(const Model& model) {
  int64_t parameters = 0;
  for (const auto& p : model.network->parameters()) parameters += p.numel();
  return {{"format_version", kModelFormatVersion},
          {"han_version", HAN_VERSION},
          {"config", to_json(model.config)},
          {"vocabulary_size", model.vocabulary.size()},
          {"labels", model.labels.names()},
          {"parameters", parameters},
          {"choices", model.choices},
          {"fields", model.fields},
          {"training", model.training.empty() ? json(nullptr) : model.training},
          {"class_weights", model.class_weights.empty() ? json(nullptr) : class_weights_json(model)},
          {"thresholds", model.thresholds.empty() ? json(nullptr) : per_label_json(model.thresholds, model.labels)}};
}

}  // namespace han
