#include "han/train/checkpoint.h"

#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/serialize.h>

#include "han/base/bytes.h"
#include "han/base/error.h"
#include "han/base/file_io.h"

namespace han {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kMagic[8] = {'H', 'A', 'N', 'C', 'K', 'P', 'T', '1'};

EpochSummary epoch_from_json(const json& j) {
  EpochSummary e;
  e.epoch = j.at("epoch").get<int>();
  e.train_loss = j.at("train_loss").get<double>();
  // A multi-label epoch is written with its own names (to_json): exact
  // matches and micro-F1.
  e.multi_label = j.value("multi_label", false);
  e.refit = j.value("refit", false);
  e.train_accuracy = j.at(e.multi_label ? "train_exact" : "train_accuracy").get<double>();
  e.seconds = j.at("seconds").get<double>();
  e.docs_per_second = j.at("docs_per_second").get<double>();
  e.learning_rate = j.at("learning_rate").get<double>();
  e.best = j.at("best").get<bool>();
  const char* score = e.multi_label ? "valid_micro_f1" : "valid_accuracy";
  e.validated = j.contains(score);
  if (e.validated) {
    e.valid_loss = j.at("valid_loss").get<double>();
    e.valid_accuracy = j.at(score).get<double>();
    e.valid_macro_f1 = j.at("valid_macro_f1").get<double>();
  }
  return e;
}

}  // namespace

json to_json(const TrainingState& s) {
  json epochs = json::array();
  for (const auto& e : s.epochs) epochs.push_back(to_json(e));
  return {{"epoch", s.epoch},
          {"step", s.step},
          {"global_step", s.global_step},
          {"shuffle_state", s.shuffle_state},
          {"loss_sum", s.loss_sum},
          {"correct", s.correct},
          {"done", s.done},
          {"epoch_seconds", s.epoch_seconds},
          {"best_accuracy", s.best_accuracy},
          {"best_loss", s.best_loss},
          {"best_epoch", s.best_epoch},
          {"epochs_without_gain", s.epochs_without_gain},
          {"finished", s.finished},
          {"warm_started", s.warm_started},
          {"epochs", epochs}};
}

TrainingState training_state_from_json(const json& j) {
  TrainingState s;
  s.epoch = j.at("epoch").get<int>();
  s.step = j.at("step").get<int64_t>();
  s.global_step = j.at("global_step").get<int64_t>();
  s.shuffle_state = j.at("shuffle_state").get<std::string>();
  s.loss_sum = j.at("loss_sum").get<double>();
  s.correct = j.at("correct").get<int64_t>();
  s.done = j.at("done").get<int64_t>();
  s.epoch_seconds = j.at("epoch_seconds").get<double>();
  s.best_accuracy = j.at("best_accuracy").get<double>();
  s.best_loss = j.at("best_loss").get<double>();
  s.best_epoch = j.at("best_epoch").get<int>();
  s.epochs_without_gain = j.at("epochs_without_gain").get<int>();
  // Absent from checkpoints written before the refit existed.
  s.finished = j.value("finished", false);
  s.warm_started = j.value("warm_started", false);
  for (const auto& e : j.at("epochs")) s.epochs.push_back(epoch_from_json(e));
  return s;
}

void save_checkpoint(const Checkpoint& checkpoint, const std::string& path) {
  const json header = {{"format_version", kCheckpointFormatVersion},
                       {"han_version", HAN_VERSION},
                       {"state", to_json(checkpoint.state)},
                       {"run", checkpoint.run}};
  // The file is written piece by piece, the weights straight from their
  // tensors: assembling it in one buffer first cost ~300 MB of peak memory.
  std::deque<std::string> owned;  // stable addresses for the views below
  std::vector<std::string_view> pieces;
  auto add_owned = [&](std::string bytes) { pieces.emplace_back(owned.emplace_back(std::move(bytes))); };
  auto add_section = [&](std::string_view bytes) {
    std::string size;
    bytes::put<uint64_t>(size, bytes.size());
    add_owned(std::move(size));
    pieces.push_back(bytes);
  };
  std::string prefix(kMagic, sizeof(kMagic));
  bytes::put<uint32_t>(prefix, kCheckpointFormatVersion);
  add_owned(std::move(prefix));
  add_section(owned.emplace_back(header.dump()));
  add_section(owned.emplace_back(serialize_model(checkpoint.model)));
  // Weight lists are written straight from float32 CPU copies.
  std::deque<torch::Tensor> held;
  auto add_weights = [&](const std::vector<torch::Tensor>& weights) {
    uint64_t total = 0;
    const size_t first = held.size();
    for (const auto& tensor : weights) {
      held.push_back(tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous());
      total += static_cast<uint64_t>(held.back().nbytes());
    }
    std::string size;
    bytes::put<uint64_t>(size, total);
    add_owned(std::move(size));
    for (size_t i = first; i < held.size(); ++i)
      pieces.emplace_back(static_cast<const char*>(held[i].data_ptr()), static_cast<size_t>(held[i].nbytes()));
  };
  add_weights(checkpoint.best_weights);
  add_section(checkpoint.optimizer_state);
  const auto generator =
      checkpoint.generator_state.defined() ? checkpoint.generator_state.contiguous() : torch::Tensor();
  add_section(generator.defined() ? std::string_view(static_cast<const char*>(generator.data_ptr()),
                                                     static_cast<size_t>(generator.nbytes()))
                                  : std::string_view());
  add_weights(checkpoint.averaged_weights);
  uint32_t crc = 0;
  for (const auto piece : pieces) crc = bytes::crc32_update(crc, piece.data(), piece.size());
  std::string trailer;
  bytes::put<uint32_t>(trailer, crc);
  add_owned(std::move(trailer));
  write_file_atomically(path, pieces);
}

Checkpoint load_checkpoint(const std::string& path) {
  auto fail = [&](const std::string& what) { return ModelFileError(fmt::format("{}: {}", path, what)); };
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw fail("is a folder, not a checkpoint");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail(fmt::format("cannot open checkpoint ({})", std::strerror(errno)));
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw fail("cannot read");
  return parse_checkpoint(data, path);
}

Checkpoint parse_checkpoint(const std::string& data, const std::string& path) {
  auto fail = [&](const std::string& what) { return ModelFileError(fmt::format("{}: {}", path, what)); };

  if (data.size() < sizeof(kMagic) || std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) {
    throw fail("not a han checkpoint (no HANCKPT1 signature)");
  }
  if (data.size() < sizeof(kMagic) + 4 + 4) throw fail("truncated checkpoint");
  const auto version = bytes::get<uint32_t>(data, 8);
  if (version != 1 && version != kCheckpointFormatVersion) {
    throw fail(fmt::format("checkpoint format version {} is not supported (this han reads versions 1 to {})", version,
                           kCheckpointFormatVersion));
  }
  const size_t end = data.size() - 4;
  if (bytes::get<uint32_t>(data, end) != bytes::crc32_of(data.data(), end)) {
    throw fail("checkpoint is damaged or truncated (checksum mismatch)");
  }
  size_t offset = 12;
  auto section = [&]() {
    if (offset + 8 > end) throw fail("truncated checkpoint");
    const auto size = bytes::get<uint64_t>(data, offset);
    offset += 8;
    if (size > end - offset) throw fail("truncated checkpoint");
    std::string piece = data.substr(offset, static_cast<size_t>(size));
    offset += static_cast<size_t>(size);
    return piece;
  };
  const std::string header_text = section();
  const std::string model = section();
  const std::string best = section();
  std::string optimizer = section();
  const std::string generator = section();
  const std::string averaged = version >= 2 ? section() : std::string();
  if (offset != end) throw fail("unexpected bytes after the end of the checkpoint");

  Checkpoint checkpoint;
  checkpoint.model = deserialize_model(model, path);
  try {
    const json header = json::parse(header_text);
    checkpoint.state = training_state_from_json(header.at("state"));
    checkpoint.run = header.at("run");
  } catch (const std::exception& e) {
    throw fail(fmt::format("invalid checkpoint header ({})", e.what()));
  }
  // A weight list: float32 tensors shaped as the model's parameters, in order.
  auto parse_weights = [&](const std::string& bytes, const char* what) {
    std::vector<torch::Tensor> weights;
    if (bytes.empty()) return weights;
    size_t at = 0;
    for (const auto& parameter : checkpoint.model.network->parameters()) {
      const size_t size = static_cast<size_t>(parameter.numel()) * sizeof(float);
      if (at + size > bytes.size()) throw fail(fmt::format("{} are shorter than the model", what));
      weights.push_back(
          torch::from_blob(const_cast<char*>(bytes.data() + at), parameter.sizes(), torch::kFloat32).clone());
      at += size;
    }
    if (at != bytes.size()) throw fail(fmt::format("{} are longer than the model", what));
    return weights;
  };
  checkpoint.best_weights = parse_weights(best, "best weights");
  checkpoint.averaged_weights = parse_weights(averaged, "averaged weights");
  checkpoint.optimizer_state = std::move(optimizer);
  if (!generator.empty()) {
    checkpoint.generator_state =
        torch::from_blob(const_cast<char*>(generator.data()), {static_cast<int64_t>(generator.size())}, torch::kUInt8)
            .clone();
  }
  return checkpoint;
}

Config resumed_config(const Config& given, const std::set<std::string>& keys_given, const Config& saved) {
  nlohmann::json wanted = to_json(given);
  nlohmann::json kept = to_json(saved);
  nlohmann::json resumed = kept;
  for (const char* free : {"threads", "time_budget", "epochs", "max_steps"}) {
    if (keys_given.count(fmt::format("train.{}", free))) resumed["train"][free] = wanted["train"][free];
    wanted["train"].erase(free);
    kept["train"].erase(free);
  }
  std::vector<std::string> differing;
  for (const auto& [section, values] : kept.items()) {
    for (const auto& [key, value] : values.items()) {
      // Only what was given again is compared: the rest is the checkpoint's.
      if (!keys_given.count(fmt::format("{}.{}", section, key))) continue;
      if (wanted[section][key] != value) {
        differing.push_back(fmt::format("{}.{} ({} here, {} in the checkpoint)", section, key,
                                        wanted[section][key].dump(), value.dump()));
      }
    }
  }
  if (!differing.empty()) {
    throw UsageError(fmt::format("--resume continues with the checkpoint's settings, but these differ: {}",
                                 fmt::join(differing, ", ")));
  }
  return config_from_json(resumed);
}

}  // namespace han
