// The model file: round trips, atomic writes, and clear errors on damage.
#include "torch_catch.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "han/base/bytes.h"
#include "han/base/error.h"
#include "han/base/file_io.h"
#include "han/model/model_file.h"
#include "han/train/checkpoint.h"
#include "han/train/train.h"

using namespace han;
namespace fs = std::filesystem;

namespace {

Model tiny_model() {
  Config config;
  config.model.embedding_dim = 6;
  config.model.word_hidden = 4;
  config.model.sentence_hidden = 3;
  config.model.word_attention = 5;
  config.model.sentence_attention = 2;
  config.text.max_words = 33;
  config.text.lowercase = false;
  config.text.join_lines = true;
  torch::manual_seed(11);
  return make_model(config, Vocabulary({"<pad>", "<unk>", "good", "bad", "film"}), LabelSet({"neg", "pos"}));
}

torch::Tensor logits_of(const Model& model) {
  EncodedDocument a, b;
  a.word_ids = {2, 4, 3, 1};
  a.sentence_lengths = {3, 1};
  b.word_ids = {3, 3};
  b.sentence_lengths = {2};
  HierarchicalAttentionNetwork net = model.network;
  net->eval();
  torch::NoGradGuard no_grad;
  return net->forward(make_batch({&a, &b})).logits;
}

std::string bytes_of(const Model& model) {
  std::ostringstream out;
  save_model(model, out);
  return out.str();
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("han-model-test-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string load_error(const std::string& bytes) {
  std::istringstream in(bytes);
  try {
    load_model(in, "model.han");
  } catch (const ModelFileError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("a saved and reloaded model gives bit-identical outputs and the same metadata") {
  Model model = tiny_model();
  std::istringstream in(bytes_of(model));
  Model loaded = load_model(in, "memory");
  CHECK(torch::equal(logits_of(model), logits_of(loaded)));
  CHECK(loaded.vocabulary.words() == model.vocabulary.words());
  CHECK(loaded.labels.names() == model.labels.names());
  CHECK(loaded.config.text.max_words == 33);
  CHECK_FALSE(loaded.config.text.lowercase);
  CHECK(loaded.config.text.join_lines);
  CHECK(loaded.config.model.word_hidden == 4);
  CHECK(bytes_of(loaded) == bytes_of(model));
}

TEST_CASE("a multi-label model keeps its thresholds") {
  Model model = tiny_model();
  CHECK(model.thresholds.empty());
  model.config.model.multi_label = true;
  model.thresholds = {0.25f, 0.75f};
  std::istringstream in(bytes_of(model));
  const Model loaded = load_model(in, "memory");
  CHECK(loaded.config.model.multi_label);
  CHECK(loaded.thresholds == std::vector<float>{0.25f, 0.75f});
  CHECK(bytes_of(loaded) == bytes_of(model));
  CHECK(describe_model(loaded)["thresholds"]["pos"] == Approx(0.75));
}

TEST_CASE("the training record round-trips, and a model without one describes it as null") {
  Model model = tiny_model();
  CHECK(describe_model(model)["training"].is_null());
  TrainingReport report;
  report.train_documents = 90;
  report.valid_documents = 10;
  report.best_epoch = 2;
  EpochSummary first, second, refit;
  first.epoch = 1;
  second.epoch = 2;
  second.validated = true;
  second.valid_accuracy = 0.8;
  second.valid_macro_f1 = 0.75;
  refit.epoch = 1;
  refit.refit = true;
  report.epochs = {first, second, refit};
  report.refit_epochs = 1;
  report.refit_documents = 100;
  model.training = training_record(report);
  CHECK(model.training["epochs"] == 2);  // the refit's epoch is counted apart
  CHECK(model.training["validation_accuracy"] == Approx(0.8));
  CHECK(model.training["refit_documents"] == 100);
  CHECK_FALSE(model.training.contains("unlabeled_documents"));
  std::istringstream in(bytes_of(model));
  const Model loaded = load_model(in, "memory");
  CHECK(loaded.training == model.training);
  CHECK(describe_model(loaded)["training"]["best_epoch"] == 2);
  CHECK(bytes_of(loaded) == bytes_of(model));
}

TEST_CASE("saving to a path is atomic and leaves no temporary file") {
  TempDir dir;
  const std::string path = (dir.path / "m.han").string();
  Model model = tiny_model();
  save_model(model, path);
  save_model(model, path);  // replacing an existing file works too
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    (void)entry;
    ++files;
  }
  CHECK(files == 1);
  CHECK(torch::equal(logits_of(load_model(path)), logits_of(model)));
}

TEST_CASE("a file written in pieces replaces the old one only when committed") {
  TempDir dir;
  const std::string path = (dir.path / "out.csv").string();
  write_file_atomically(path, "old\n");
  const auto read = [&] {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto count_files = [&] {
    size_t files = 0;
    for (const auto& entry : fs::directory_iterator(dir.path)) files += entry.is_regular_file();
    return files;
  };
  {
    AtomicFileWriter abandoned(path);
    abandoned.write(std::string(3u << 20, 'x'));  // past the buffer: bytes reach the temporary file
  }
  CHECK(read() == "old\n");
  CHECK(count_files() == 1);
  AtomicFileWriter file(path);
  for (int i = 0; i < 1000; ++i) file.write("row\n");
  file.write(std::string(2u << 20, 'y'));
  CHECK(read() == "old\n");
  file.commit();
  const std::string written = read();
  CHECK(written.size() == 4000 + (2u << 20));
  CHECK(written.substr(0, 8) == "row\nrow\n");
  CHECK(count_files() == 1);
}

TEST_CASE("parameter names are part of the file format") {
  // Renaming a module breaks every saved model: this list must only grow with a new format version.
  std::vector<std::string> names;
  for (const auto& p : tiny_model().network->named_parameters()) names.push_back(p.key());
  const std::vector<std::string> expected = {
      "embedding.weight",
      "word_encoder.forward_gru.weight_ih_l0",
      "word_encoder.forward_gru.weight_hh_l0",
      "word_encoder.forward_gru.bias_ih_l0",
      "word_encoder.forward_gru.bias_hh_l0",
      "word_encoder.backward_gru.weight_ih_l0",
      "word_encoder.backward_gru.weight_hh_l0",
      "word_encoder.backward_gru.bias_ih_l0",
      "word_encoder.backward_gru.bias_hh_l0",
      "word_attention.context",
      "word_attention.projection.weight",
      "word_attention.projection.bias",
      "sentence_encoder.forward_gru.weight_ih_l0",
      "sentence_encoder.forward_gru.weight_hh_l0",
      "sentence_encoder.forward_gru.bias_ih_l0",
      "sentence_encoder.forward_gru.bias_hh_l0",
      "sentence_encoder.backward_gru.weight_ih_l0",
      "sentence_encoder.backward_gru.weight_hh_l0",
      "sentence_encoder.backward_gru.bias_ih_l0",
      "sentence_encoder.backward_gru.bias_hh_l0",
      "sentence_attention.context",
      "sentence_attention.projection.weight",
      "sentence_attention.projection.bias",
      "classifier.weight",
      "classifier.bias",
  };
  CHECK(names == expected);
}

TEST_CASE("damaged, foreign and future model files give clear errors") {
  const std::string good = bytes_of(tiny_model());

  SECTION("not a model") {
    CHECK_THAT(load_error("label,text\n1,hello\n"), Catch::Contains("model.han: not a han model file"));
    CHECK_THAT(load_error(""), Catch::Contains("not a han model file"));
  }
  SECTION("truncated anywhere") {
    for (size_t size : {size_t{9}, size_t{14}, size_t{40}, good.size() / 2, good.size() - 1}) {
      INFO(size);
      CHECK_THAT(load_error(good.substr(0, size)), Catch::Contains("truncated") || Catch::Contains("damaged"));
    }
  }
  SECTION("a flipped bit in the weights") {
    std::string bad = good;
    bad[bad.size() - 20] = static_cast<char>(bad[bad.size() - 20] ^ 0x10);
    CHECK_THAT(load_error(bad), Catch::Contains("damaged (checksum mismatch)"));
  }
  SECTION("a flipped bit in the header") {
    std::string bad = good;
    bad[30] = static_cast<char>(bad[30] ^ 0x01);
    CHECK_THAT(load_error(bad), Catch::Contains("damaged"));
  }
  SECTION("a future format version") {
    std::string future = good;
    future[8] = 2;
    CHECK_THAT(load_error(future),
               Catch::Contains("format version 2 is not supported") && Catch::Contains("written by a newer han"));
  }
  SECTION("trailing bytes") { CHECK_THAT(load_error(good + "x"), Catch::Contains("model.han")); }
  // Consistent files (a valid checksum) that hold what the network cannot use.
  auto with_checksum = [](std::string file) {
    const uint32_t crc = bytes::crc32_of(file.data(), file.size() - 4);
    for (int k = 0; k < 4; ++k) file[file.size() - 4 + static_cast<size_t>(k)] = static_cast<char>(crc >> (8 * k));
    return file;
  };
  SECTION("the checksum recomputed after an edit is what makes a file load") {
    CHECK_THAT(load_error(with_checksum(good)), Catch::Contains("no error"));
  }
  SECTION("NaN weights") {
    Model nan_model = tiny_model();
    {
      torch::NoGradGuard no_grad;
      nan_model.network->parameters()[3][0].fill_(std::numeric_limits<float>::quiet_NaN());
    }
    CHECK_THAT(load_error(bytes_of(nan_model)), Catch::Contains("holds NaN or infinite values"));
  }
  SECTION("a training record that is not an object") {
    Model odd = tiny_model();
    odd.training = {{"documents", 3}};
    std::string file = bytes_of(odd);
    const size_t at = file.find("{\"documents\":3}");
    REQUIRE(at != std::string::npos);
    file.replace(at, 15, "[\"documents\",3]");
    CHECK_THAT(load_error(with_checksum(file)), Catch::Contains("'training' is not an object"));
    file.replace(at, 15, "{\"document\":\"\"}");  // the same length: the header's size still holds
    CHECK_THAT(load_error(with_checksum(file)), Catch::Contains("training record 'document' is not a number"));
  }
  SECTION("a dtype other than float32") {
    std::string other = good;
    const size_t at = other.find("\"float32\"");
    REQUIRE(at != std::string::npos);
    other.replace(at, 9, "\"float64\"");
    CHECK_THAT(load_error(with_checksum(other)), Catch::Contains("has dtype \"float64\"; this version reads float32"));
  }
}

TEST_CASE("loading a missing path or a folder names it") {
  CHECK_THROWS_WITH(load_model("/nonexistent/m.han"), Catch::Contains("/nonexistent/m.han: cannot open model file"));
  CHECK_THROWS_WITH(load_model(fs::temp_directory_path().string()), Catch::Contains("is a folder"));
}

TEST_CASE("output paths in missing folders fail before any work") {
  CHECK_THROWS_WITH(check_output_path("/nonexistent-folder/m.han"), Catch::Contains("does not exist"));
  TempDir dir;
  CHECK_NOTHROW(check_output_path((dir.path / "m.han").string()));
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("a checkpoint round-trips weights, best weights, optimizer, generator and state exactly") {
  TempDir dir;
  const std::string path = (dir.path / "run.ckpt").string();
  Checkpoint saved;
  saved.model = tiny_model();
  for (const auto& p : saved.model.network->parameters()) {
    saved.best_weights.push_back(p.detach().clone() * 2);
    saved.averaged_weights.push_back(p.detach().clone() - 1);
  }
  // A real optimizer state, after one step.
  auto parameters = saved.model.network->parameters();
  torch::optim::Adam adam(parameters, torch::optim::AdamOptions(0.01));
  logits_of(saved.model);  // eval forward only; now a training step:
  saved.model.network->train();
  EncodedDocument doc;
  doc.word_ids = {2, 3};
  doc.sentence_lengths = {2};
  doc.label = 1;
  auto batch = make_batch({&doc});
  torch::nn::functional::cross_entropy(saved.model.network->forward(batch).logits, batch.labels).backward();
  adam.step();
  std::ostringstream archive_bytes;
  torch::serialize::OutputArchive archive;
  adam.save(archive);
  archive.save_to(archive_bytes);
  saved.optimizer_state = archive_bytes.str();
  saved.generator_state = torch::arange(0, 50, torch::kUInt8);
  saved.state.epoch = 3;
  saved.state.step = 7;
  saved.state.global_step = 40;
  saved.state.shuffle_state = "1 2 3";
  saved.state.loss_sum = 0.1 + 0.2;  // not exactly representable in decimal: must survive JSON exactly
  saved.state.best_accuracy = 2.0 / 3.0;
  saved.state.best_epoch = 2;
  EpochSummary epoch;
  epoch.epoch = 1;
  epoch.train_loss = 0.5;
  epoch.validated = true;
  epoch.valid_accuracy = 0.75;
  EpochSummary multi_label = epoch;  // written with its own names: train_exact, valid_micro_f1
  multi_label.multi_label = true;
  multi_label.train_accuracy = 0.5;
  saved.state.epochs = {epoch, epoch, multi_label};
  saved.run = {{"data", "corpus.csv"}};
  save_checkpoint(saved, path);

  Checkpoint loaded = load_checkpoint(path);
  CHECK(torch::equal(logits_of(loaded.model), logits_of(saved.model)));
  REQUIRE(loaded.best_weights.size() == saved.best_weights.size());
  for (size_t i = 0; i < saved.best_weights.size(); ++i)
    CHECK(torch::equal(loaded.best_weights[i], saved.best_weights[i]));
  REQUIRE(loaded.averaged_weights.size() == saved.averaged_weights.size());
  for (size_t i = 0; i < saved.averaged_weights.size(); ++i)
    CHECK(torch::equal(loaded.averaged_weights[i], saved.averaged_weights[i]));
  CHECK(loaded.optimizer_state == saved.optimizer_state);
  CHECK(torch::equal(loaded.generator_state, saved.generator_state));
  CHECK(loaded.state.epoch == 3);
  CHECK(loaded.state.step == 7);
  CHECK(loaded.state.global_step == 40);
  CHECK(loaded.state.shuffle_state == "1 2 3");
  CHECK(loaded.state.loss_sum == saved.state.loss_sum);
  CHECK(loaded.state.best_accuracy == saved.state.best_accuracy);
  REQUIRE(loaded.state.epochs.size() == 3);
  CHECK(loaded.state.epochs[1].valid_accuracy == 0.75);
  CHECK(loaded.state.epochs[1].validated);
  // A multi-label run's checkpoint resumes (its epochs read back under their own names).
  CHECK(loaded.state.epochs[2].multi_label);
  CHECK(loaded.state.epochs[2].validated);
  CHECK(loaded.state.epochs[2].valid_accuracy == 0.75);
  CHECK(loaded.state.epochs[2].train_accuracy == 0.5);
  CHECK(loaded.run.at("data") == "corpus.csv");

  // The optimizer state loads back into a fresh Adam.
  torch::optim::Adam fresh(loaded.model.network->parameters(), torch::optim::AdamOptions(0.01));
  std::istringstream in(loaded.optimizer_state);
  torch::serialize::InputArchive input;
  input.load_from(in);
  CHECK_NOTHROW(fresh.load(input));

  // Damage is detected, and a model file is not a checkpoint.
  std::ifstream file(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  auto error_for = [&](const std::string& content) {
    const std::string damaged = (dir.path / "damaged.ckpt").string();
    std::ofstream(damaged, std::ios::binary) << content;
    try {
      load_checkpoint(damaged);
    } catch (const ModelFileError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 0x10);
  CHECK_THAT(error_for(flipped), Catch::Contains("damaged or truncated"));
  CHECK_THAT(error_for(bytes.substr(0, bytes.size() - 100)), Catch::Contains("damaged or truncated"));
  CHECK_THAT(error_for(bytes_of(tiny_model())), Catch::Contains("not a han checkpoint"));
  CHECK_THAT(error_for(""), Catch::Contains("not a han checkpoint"));
}

TEST_CASE("a model file is read only as far as its sections declare, and no further than its first bad field") {
  const std::string good = bytes_of(tiny_model());
  const auto bytes_read = [](const std::string& file) {
    std::istringstream in(file);
    try {
      load_model(in, "model.han");
    } catch (const ModelFileError&) {
    }
    in.clear();
    return static_cast<size_t>(in.tellg());
  };
  const std::string tail(50u << 20, '\0');                            // 50 MB that the reader must not take in
  CHECK(bytes_read("HANMODEL" + std::string(4, '\0') + tail) == 12);  // format version 0
  std::string huge_header = good.substr(0, 12);
  bytes::put<uint64_t>(huge_header, uint64_t{1} << 40);
  CHECK(bytes_read(huge_header + tail) == 20);
  CHECK_THAT(load_error(huge_header + tail), Catch::Contains("model header of 1099511627776 bytes"));
  CHECK(bytes_read(good + tail) == good.size() + 1);  // one byte past the end, to report it
  CHECK_THAT(load_error(good + tail), Catch::Contains("unexpected bytes after the end"));
  CHECK(load_error(good) == "no error");
}

TEST_CASE("the parameter count is known before building, and a file claiming huge sizes allocates nothing") {
  for (Model model : {tiny_model(), make_model(Config{}, Vocabulary(), LabelSet({"a", "b", "c"}))}) {
    CHECK(expected_parameter_count(model.config.model, model.vocabulary.size(), model.labels.size()) ==
          static_cast<double>(count_parameters(*model.network)));
  }
  // Rewrite the header of a valid file, with a consistent length and checksum.
  const std::string original = bytes_of(tiny_model());
  const auto header_size = bytes::get<uint64_t>(original, 12);
  std::string header = original.substr(20, header_size);
  const std::string from = "\"embedding_dim\":6", to = "\"embedding_dim\":600000000";
  REQUIRE(header.find(from) != std::string::npos);
  header.replace(header.find(from), from.size(), to);
  std::string forged = original.substr(0, 12);
  bytes::put<uint64_t>(forged, header.size());
  forged += header;
  forged += original.substr(20 + header_size, original.size() - 4 - 20 - header_size);
  bytes::put<uint32_t>(forged, bytes::crc32_of(forged.data(), forged.size()));
  CHECK_THAT(load_error(forged), Catch::Contains("the configuration needs 17400000458 parameters"));
  CHECK_THAT(load_error(forged), Catch::Contains("parameters, but the file holds"));
}
