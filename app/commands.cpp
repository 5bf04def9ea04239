#include "commands.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "han/base/error.h"
#include "han/base/file_io.h"
#include "han/dist/distributed.h"
#include "han/infer/infer.h"
#include "han/model/model.h"
#include "han/report/report.h"
#include "han/train/train.h"
#ifdef HAN_WITH_SERVE
#include "han/serve/serve.h"
#endif
#include "han/embed/word2vec.h"
#include "progress.h"

namespace {

// Warnings ("warning: ...") show under -q too: they ask the user to act.
void note(const CommonOptions& common, const std::string& text) {
  if (common.silent) return;
  if (!common.quiet || text.rfind("warning: ", 0) == 0) fmt::print(stderr, "han: {}\n", text);
}

std::string json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // file names need not be UTF-8
}

std::string describe(const han::CorpusStats& s) {
  std::string out = fmt::format("{} document{}", s.documents, s.documents == 1 ? "" : "s");
  if (s.empty) out += fmt::format(", {} empty", s.empty);
  if (s.invalid_utf8) out += fmt::format(", {} with invalid UTF-8 (repaired)", s.invalid_utf8);
  if (s.decoded_latin1) out += fmt::format(", {} read as Latin-1", s.decoded_latin1);
  if (s.skipped_files)
    out += fmt::format(", {} files skipped (unsup/, hidden, or outside class folders)", s.skipped_files);
  if (s.merged_files)
    out +=
        fmt::format(", {} files also in another class folder read as that document's further labels", s.merged_files);
  if (s.copies_across_classes)
    out += fmt::format(
        ", {} files identical to one in another class folder (--multi-label reads them as one "
        "document with several labels)",
        s.copies_across_classes);
  return out;
}

// How a CSV/TSV corpus was read, where not the default: kept with the model
// (and checkpoints) so that evaluate and classify read the same way.
nlohmann::json csv_hints(const han::CorpusOptions& corpus) {
  nlohmann::json hints = nlohmann::json::object();
  if (corpus.delimiter != 0) hints["delimiter"] = std::string(1, corpus.delimiter);
  if (corpus.no_header) hints["no_header"] = true;
  return hints;
}

// The CSV/TSV hints a model keeps, for options not given again.
void take_csv_hints(const nlohmann::json& fields, char& delimiter, bool& no_header) {
  if (delimiter == 0 && fields.contains("delimiter")) delimiter = fields["delimiter"].get<std::string>().at(0);
  no_header = no_header || fields.value("no_header", false);
}

// Inputs to classify need not look like the training corpus: the model's
// CSV hints are said, not applied.
void note_csv_hints(const CommonOptions& common, const han::Model& model, const han::CorpusOptions& options) {
  const bool csv = options.format == han::CorpusFormat::Csv || options.format == han::CorpusFormat::Tsv;
  if (csv && model.fields.value("no_header", false) && !options.no_header) {
    note(common,
         "the model was trained on a CSV/TSV file without a header row: give --no-header if this one has "
         "none either");
  }
}

han::Corpus read_labeled(const std::string& path, const std::string& format, han::CorpusOptions options,
                         const CommonOptions& common) {
  options.format = han::parse_corpus_format(format);
  options.threads = common.threads;
  han::Corpus corpus = han::read_corpus(path, options);
  note(common, fmt::format("read {} ({}): {}", path, han::to_string(corpus.format), describe(corpus.stats)));
  return corpus;
}

// A training corpus, tokenized: from a prepared file, the cache, or its text.
han::TokenizedCorpus load_training_corpus(const std::string& path, const std::string& format,
                                          const han::CorpusOptions& reader, const han::Config& config, bool use_cache,
                                          const CommonOptions& common, ProgressBar& bar) {
  han::CorpusLoadOptions options;
  options.reader = reader;
  options.reader.format = han::parse_corpus_format(format);
  options.reader.threads = common.threads;
  options.text = config.text;
  options.threads = han::configure_threads(config.train.threads);
  options.use_cache = use_cache;
  options.on_note = [&](const std::string& text) {
    bar.clear();
    note(common, text);
  };
  options.on_tokenized = [&](int64_t done, int64_t total) { bar.update("tokenizing", done, total); };
  han::TokenizedCorpus corpus = han::load_tokenized(path, options);
  bar.clear();
  note(common, fmt::format("read {} ({}): {}", path, han::to_string(corpus.format), describe(corpus.stats)));
  return corpus;
}

std::string format_epoch(const han::EpochSummary& e, int epochs) {
  // Multi-label: "exact" documents had every label right; micro-F1 at threshold 0.5.
  const char* train_score = e.multi_label ? "exact" : "acc";
  const char* valid_score = e.multi_label ? "micro-F1" : "acc";
  // A refit's epoch count is in the note that starts it.
  const std::string epoch =
      e.refit ? fmt::format("refit epoch {}", e.epoch) : fmt::format("epoch {}/{}", e.epoch, epochs);
  std::string line =
      fmt::format("{}  loss {:.4f}  {} {:.2f}%", epoch, e.train_loss, train_score, 100 * e.train_accuracy);
  if (e.validated) {
    line += fmt::format("  | valid loss {:.4f}  {} {:.2f}%  macro-F1 {:.2f}%", e.valid_loss, valid_score,
                        100 * e.valid_accuracy, 100 * e.valid_macro_f1);
  }
  line += fmt::format("  | {:.0f} docs/s  {:.1f}s{}", e.docs_per_second, e.seconds, e.best ? "  *" : "");
  return line;
}

han::TrainCallbacks console_callbacks(ProgressBar& bar, const CommonOptions& common, std::ofstream* metrics,
                                      int epochs) {
  han::TrainCallbacks callbacks;
  callbacks.on_progress = [&bar](const han::TrainingProgress& p) {
    switch (p.stage) {
      case han::TrainingProgress::Stage::Tokenizing:
        bar.update("tokenizing", p.done, p.total);
        break;
      case han::TrainingProgress::Stage::Pretraining:
        bar.update(fmt::format("word vectors, pass {}", p.epoch), p.done, p.total);
        break;
      case han::TrainingProgress::Stage::Training:
        bar.update(fmt::format("epoch {}/{}", p.epoch, p.epochs), p.done, p.total,
                   fmt::format("loss {:.4f} {:.0f} docs/s", p.loss, p.docs_per_second));
        break;
      case han::TrainingProgress::Stage::Validating:
        bar.update(fmt::format("validating {}", p.epoch), p.done, p.total);
        break;
    }
  };
  callbacks.on_epoch = [&bar, &common, metrics, epochs](const han::EpochSummary& e) {
    bar.clear();
    if (!common.quiet) fmt::print(stderr, "{}\n", format_epoch(e, epochs));
    if (metrics) {
      *metrics << han::to_json(e).dump() << "\n";
      metrics->flush();
    }
  };
  callbacks.on_note = [&bar, &common](const std::string& text) {
    bar.clear();
    note(common, text);
  };
  return callbacks;
}

int effective_threads(const CommonOptions& common) { return han::configure_threads(common.threads); }

// The corpus format an input of classify or explain is read in; Auto: as text.
han::CorpusFormat input_format(const std::string& path, const PredictionInputs& inputs) {
  if (inputs.format == "text") return han::CorpusFormat::Auto;
  if (inputs.format != "auto") return han::parse_corpus_format(inputs.format);
  std::error_code ec;
  if (path == "-" || std::filesystem::is_directory(path, ec)) return han::CorpusFormat::Auto;
  const han::CorpusFormat by_name = han::corpus_format_by_name(path);
  if (by_name != han::CorpusFormat::Auto || (inputs.delimiter == 0 && !inputs.no_header)) return by_name;
  if (inputs.delimiter != 0) return inputs.delimiter == '\t' ? han::CorpusFormat::Tsv : han::CorpusFormat::Csv;
  return han::sniff_csv_format(path);
}

// The inputs of classify and explain, each read as text or as a corpus file.
han::InputReader open_inputs(const PredictionInputs& inputs, const han::Model& model, const CommonOptions& common) {
  static const std::set<std::string> kFormats = {"auto", "text", "csv", "tsv", "jsonl", "fasttext"};
  if (!kFormats.count(inputs.format)) {
    throw han::UsageError(
        fmt::format("--format {}: expected auto, text, csv, tsv, jsonl or fasttext (a folder is "
                    "read as its files)",
                    inputs.format));
  }
  std::vector<han::InputSource> sources;
  for (const std::string& path : inputs.paths) {
    han::InputSource source{path, {}};
    source.corpus.format = input_format(path, inputs);
    if (source.corpus.format != han::CorpusFormat::Auto) {
      source.corpus.labels_optional = true;
      source.corpus.text_field = inputs.text_field.empty() ? model.fields.value("text_field", "") : inputs.text_field;
      source.corpus.delimiter = inputs.delimiter;
      source.corpus.no_header = inputs.no_header;
      note_csv_hints(common, model, source.corpus);
    }
    sources.push_back(std::move(source));
  }
  return han::InputReader(std::move(sources), inputs.lines, model.config.text.max_bytes);
}

// Reads the inputs a block at a time and hands each block to `consume`
// before the next is read: memory holds one block, whatever the inputs hold.
// Returns the number of documents.
int64_t for_each_block(han::InputReader& reader,
                       const std::function<void(const std::vector<han::Document>&)>& consume) {
  constexpr size_t kBlockDocuments = 4096;
  std::vector<han::Document> block;
  int64_t documents = 0;
  han::Document document;
  for (bool more = true; more;) {
    block.clear();
    while (block.size() < kBlockDocuments && (more = reader.next(document))) block.push_back(std::move(document));
    if (block.empty()) break;
    documents += static_cast<int64_t>(block.size());
    consume(block);
  }
  return documents;
}

// What reading the inputs repaired, and how the corpus files were read: said at the end.
void note_inputs(const CommonOptions& common, const han::InputReader& reader) {
  for (const auto& corpus : reader.corpora()) {
    note(common, fmt::format("read {} ({}): {} documents, one a record", corpus.path, han::to_string(corpus.format),
                             corpus.documents));
  }
  const han::CorpusStats& stats = reader.stats();
  if (stats.invalid_utf8 || stats.empty) note(common, describe(stats));
}

}  // namespace

namespace {

// The settings the user gave ("section.key"), from --config and the overrides:
// the automatic recipe leaves them alone.
std::set<std::string> given_keys(const TrainCommand& command) {
  std::set<std::string> keys;
  if (!command.config_file.empty()) {
    std::ifstream in(command.config_file);
    const nlohmann::json file = nlohmann::json::parse(in, nullptr, false);
    if (file.is_object()) {
      for (const auto& [section, values] : file.items()) {
        if (!values.is_object()) continue;
        for (const auto& [key, value] : values.items()) keys.insert(fmt::format("{}.{}", section, key));
      }
    }
  }
  for (const std::string& assignment : command.overrides) keys.insert(assignment.substr(0, assignment.find('=')));
  return keys;
}

}  // namespace

han::Config merged_config(const TrainCommand& command) {
  han::Config config;
  if (!command.config_file.empty()) config = han::load_config(command.config_file, config);
  for (const std::string& assignment : command.overrides) config = han::apply_override(config, assignment);
  // Settings that need each other are checked once the corpus has had its say.
  if (command.no_auto) {
    han::validate(config);
  } else {
    han::validate_values(config);
  }
  return config;
}

namespace {

// Per genre: does the model read the cue sentence, and the cue word in it?
void print_cue_scores(const std::vector<han::CueScores>& scores) {
  int documents = 0;
  for (const auto& s : scores) documents += s.documents;
  fmt::print(
      "on {} held-out reviews, per genre: accuracy; how often the cue sentence drew the most attention,\n"
      "the median share it drew; how often the cue word was that sentence's top word\n",
      documents);
  fmt::print("  {:<10} {:>7} {:>9} {:>13} {:>13} {:>9}\n", "genre", "reviews", "accuracy", "cue sentence",
             "median share", "cue word");
  for (const auto& s : scores) {
    fmt::print("  {:<10} {:>7} {:>8.1f}% {:>12.1f}% {:>12.0f}% {:>8.1f}%\n", s.label, s.documents, 100 * s.accuracy,
               100 * s.cue_sentence_top, 100 * s.cue_sentence_median, 100 * s.cue_word_top);
  }
}

}  // namespace

int run_demo_command(han::DemoOptions options, bool dump_config, const CommonOptions& common) {
  if (common.threads > 0) options.config.train.threads = common.threads;
  han::validate(options.config);
  if (dump_config) {
    fmt::print("{}\n", han::to_json(options.config).dump(2));
    return 0;
  }
  if (options.train_documents < 10 || options.heldout_per_class < 1)
    throw han::UsageError("demo needs --documents 10 or more and --heldout 1 or more");
  ProgressBar bar(!common.quiet && stderr_is_terminal());
  note(common, fmt::format("training on {} synthetic film reviews written by han (one sentence names the genre)",
                           options.train_documents));
  han::DemoResult result = han::run_demo(options, console_callbacks(bar, common, nullptr, options.config.train.epochs));
  bar.clear();
  const auto& best = result.training.epochs[static_cast<size_t>(result.training.best_epoch - 1)];
  fmt::print("trained in {:.1f}s: validation accuracy {:.1f}% (epoch {})\n", result.training.seconds,
             100 * best.valid_accuracy, result.training.best_epoch);
  fmt::print("corpus {}, model {}\n\n", result.corpus_path, result.model_path);
  print_cue_scores(result.scores);
  const han::Model model = han::load_model(result.model_path);
  fmt::print("\nthe first held-out review of each genre:\n");
  for (const size_t i : result.shown) {
    fmt::print("held-out review {} (gold: {}): {}", i + 1, result.heldout[i].document.label,
               han::summarize_explanation(result.explanations[i], model.labels));
  }
  fmt::print("\nattention for all held-out reviews: {} (schema: docs/ATTENTION_JSON.md)\n", result.explanations_path);
  fmt::print("the reviews above as a picture: {} (open it in a browser)\n", result.report_path);
  fmt::print(
      "next: echo 'My neighbour said that the whole film was really scary. I found the second half truly "
      "hilarious.' | "
      "han explain {} - --summary\n",
      result.model_path);
  return 0;
}

namespace {

// SIGINT and SIGTERM ask training to checkpoint and stop; a second one stops at once.
std::atomic<bool> stop_training{false};
std::atomic<int> stop_signal{0};

void on_stop_signal(int signal) {
  if (stop_training.exchange(true)) std::_Exit(128 + signal);
  stop_signal = signal;
}

class StopSignals {
 public:
  StopSignals() {
    previous_int_ = std::signal(SIGINT, on_stop_signal);
    previous_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

std::string quote(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:") ==
                           std::string::npos) {
    return text;
  }
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

namespace {

// The checkpoint --resume names ("auto": MODEL.ckpt when it exists), or "".
std::string resume_path_of(const TrainCommand& command, const CommonOptions& common) {
  if (command.resume != "auto") return command.resume;
  std::string path = command.output + ".ckpt";  // not const: returned by move
  if (std::filesystem::exists(path)) return path;
  note(common, fmt::format("no checkpoint at {}; starting afresh", path));
  return "";
}

// Whether `path` lies directly in the folder that holds `beside`.
bool in_same_folder(const std::string& path, const std::string& beside) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(fs::absolute(path), ec).parent_path();
  const fs::path b = fs::weakly_canonical(fs::absolute(beside), ec).parent_path();
  return !ec && a == b;
}

// A resumed run takes the checkpoint's paths wherever they are not given
// again. The paths it writes are taken only when they lie in the
// checkpoint's own folder: a checkpoint from elsewhere must not decide which
// of the user's files get replaced.
void take_run_paths(TrainCommand& command, const TrainCommand& given, const nlohmann::json& run,
                    const std::string& resume_path, const CommonOptions& common) {
  auto take = [&](std::string& field, const char* key) {
    if (field.empty() && run.contains(key)) field = run.at(key).get<std::string>();
  };
  take(command.data, "data");
  take(command.valid, "valid");
  take(command.corpus.text_field, "text_field");
  take(command.corpus.label_field, "label_field");
  if (run.contains("delimiter") && command.corpus.delimiter == 0) {
    command.corpus.delimiter = run.at("delimiter").get<std::string>().at(0);
  }
  command.corpus.no_header = command.corpus.no_header || run.value("no_header", false);
  if (command.format == "auto" && run.contains("format")) command.format = run.at("format").get<std::string>();
  if (!given.output_given && run.contains("output")) {
    const std::string stored = run.at("output").get<std::string>();
    if (!in_same_folder(stored, resume_path)) {
      throw han::UsageError(fmt::format(
          "{}: the checkpoint would write its model to {}, outside the checkpoint's folder: say where with "
          "-o MODEL (e.g. han train --resume {} -o {})",
          resume_path, stored, resume_path, (std::filesystem::path(resume_path).parent_path() / "model.han").string()));
    }
    command.output = stored;
  }
  if (command.metrics.empty() && run.contains("metrics")) {
    const std::string stored = run.at("metrics").get<std::string>();
    if (in_same_folder(stored, resume_path)) {
      command.metrics = stored;
    } else {
      note(common, fmt::format("the checkpoint's metrics log {} lies outside its folder; the log goes beside the "
                               "model instead",
                               stored));
    }
  }
  note(common, fmt::format("resuming from {}; the model will be written to {}", resume_path, command.output));
  // Later checkpoints replace the one resumed from, unless --checkpoint says otherwise.
  if (given.checkpoint.empty()) command.checkpoint = resume_path;
}

// Where this process trains: its device and, in a data-parallel run, its
// group (each rank with its share of the cores unless --threads says).
struct Placement {
  han::ExecutionOptions execution;
  std::unique_ptr<han::Communicator> group;
  CommonOptions common;  // quiet on every rank but 0
};

Placement place_training(const TrainCommand& command, const CommonOptions& common, const han::WorldInfo& world,
                         han::Config& config) {
  Placement placement;
  placement.common = common;
  han::ExecutionOptions& execution = placement.execution;
  execution.device = han::resolve_device(common.device, world.local_rank);
  execution.mixed_precision = command.amp;
  if (command.amp && !execution.device.is_cuda()) {
    throw han::UsageError(fmt::format("--amp needs a CUDA device; this run is on the {} (--device {})",
                                      execution.device.str(), common.device));
  }
  if (!world.distributed()) return placement;
  if (common.threads <= 0) {
    config.train.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / world.local_world_size);
  }
  placement.common.quiet = common.quiet || world.rank != 0;
  placement.common.silent = world.rank != 0;
  placement.group = std::make_unique<han::Communicator>(
      world, execution.device, std::chrono::milliseconds(static_cast<int64_t>(command.dist_timeout * 1000)));
  execution.group = placement.group.get();
  note(placement.common,
       fmt::format("rank {} of {} joined at {}:{} ({} thread{} each)", world.rank, world.world_size, world.master_addr,
                   world.master_port, config.train.threads, config.train.threads == 1 ? "" : "s"));
  return placement;
}

han::CheckpointOptions checkpoint_options(const TrainCommand& command, han::Checkpoint* resume,
                                          const std::string& metrics_path) {
  han::CheckpointOptions checkpoints;
  if (!command.no_checkpoint) {
    checkpoints.path = command.checkpoint;
    checkpoints.every_steps = command.checkpoint_every;
  }
  checkpoints.resume = resume;
  checkpoints.stop = &stop_training;
  checkpoints.run = {{"data", command.data},
                     {"valid", command.valid},
                     {"output", command.output},
                     {"metrics", metrics_path},
                     {"format", command.format},
                     {"text_field", command.corpus.text_field},
                     {"label_field", command.corpus.label_field},
                     {"checkpoint", command.checkpoint}};
  checkpoints.run.update(csv_hints(command.corpus));
  checkpoints.unlabeled_reader.text_field = command.corpus.text_field;
  checkpoints.unlabeled_reader.delimiter = command.corpus.delimiter;
  checkpoints.unlabeled_reader.no_header = command.corpus.no_header;
  // Without a header the label's column number says which column is not text.
  if (command.corpus.no_header) checkpoints.unlabeled_reader.label_field = command.corpus.label_field;
  return checkpoints;
}

// Rank 0 writes the log; a resumed run's log starts with the epochs it kept.
std::ofstream open_metrics_log(const std::string& path, const han::Checkpoint& checkpoint) {
  std::ofstream metrics(path, std::ios::trunc);
  if (!metrics) throw han::InputError(fmt::format("{}: cannot write the metrics log", path));
  for (const auto& epoch : checkpoint.state.epochs) metrics << han::to_json(epoch).dump() << "\n";
  metrics.flush();
  return metrics;
}

// 128 + the signal, as shells report a program a signal stopped.
int interrupted_exit_code() {
  const int signal = stop_signal.load();
  return 128 + (signal > 0 ? signal : SIGINT);
}

void report_interrupted(const han::TrainingReport& report, const han::CheckpointOptions& checkpoints) {
  if (checkpoints.path.empty()) {
    fmt::print(stderr, "han: interrupted after {} batches; nothing saved (--no-checkpoint)\n", report.steps);
  } else {
    fmt::print(stderr,
               "han: interrupted after {} batches; checkpoint saved to {}\nhan: resume with: han train --resume {}\n",
               report.steps, checkpoints.path, quote(checkpoints.path));
  }
}

// The automatic recipe: settings the user did not give, chosen from the
// training corpus's statistics; one line each, and the list for the model file.
nlohmann::json choose_settings(const TrainCommand& command, const han::TokenizedCorpus& train, han::Config& config,
                               const CommonOptions& common) {
  nlohmann::json list = nlohmann::json::array();
  if (command.no_auto) return list;
  const han::CorpusProfile profile = han::profile_corpus(train);
  const auto choices = han::choose_recipe(profile, given_keys(command), config);
  han::validate(config);  // e.g. --freeze-embeddings with neither vectors nor pretraining
  note(common, fmt::format("corpus: {} documents, {} labels (smallest {:.1f}%), about {} tokens{}", profile.documents,
                           profile.classes, 100 * profile.smallest_class, profile.tokens,
                           profile.cjk_share > 0.5 ? ", mostly CJK" : ""));
  for (const auto& choice : choices) {
    note(common, fmt::format("chose {} = {}: {}", choice.key, choice.value.dump(), choice.reason));
    list.push_back(han::to_json(choice));
  }
  if (!choices.empty()) note(common, "(--set KEY=VALUE keeps your own value; --no-auto chooses nothing)");
  return list;
}

// `given` with a resumed run's automatic choices wherever the user gave no value.
han::Config with_saved_choices(han::Config given, const std::set<std::string>& keys, const nlohmann::json& run) {
  for (const auto& choice : run.value("choices", nlohmann::json::array())) {
    const std::string key = choice.value("key", "");
    if (key.empty() || keys.count(key)) continue;
    given = han::apply_override(given, key + "=" + choice.at("value").dump());
  }
  return given;
}

void save_trained(const han::Model& model, const han::TrainingReport& report, const TrainCommand& command,
                  const han::CheckpointOptions& checkpoints, const std::string& metrics_path,
                  const CommonOptions& common) {
  han::save_model(model, command.output);
  const auto& best = report.epochs[static_cast<size_t>(report.best_epoch - 1)];
  const std::string refit = report.refit_epochs > 0
                                ? fmt::format("; then refit on all {} training documents for {} epochs",
                                              report.refit_documents, report.refit_epochs)
                                : std::string();
  fmt::print("saved {} (epoch {} of {}{}; {} training documents, {} words in the vocabulary{})\n", command.output,
             report.best_epoch, report.epochs.size(),
             best.validated ? fmt::format(", validation {} {:.2f}%", best.multi_label ? "micro-F1" : "accuracy",
                                          100 * best.valid_accuracy)
                            : std::string(", no validation split"),
             report.train_documents, report.vocabulary_size, refit);
  note(common, fmt::format("metrics log: {}", metrics_path));
  if (!checkpoints.path.empty()) {
    // The model is safely saved; the checkpoint's only use is over.
    std::error_code ec;
    std::filesystem::remove(checkpoints.path, ec);
  }
}

}  // namespace

namespace {

// --init: the model's settings, with the train settings given here. Its
// network and text processing cannot change: its weights and vocabulary
// depend on them.
han::Config warm_start_config(const TrainCommand& command, const han::Config& saved) {
  static const std::set<std::string> kVocabularyKeys = {
      "min_count", "max_vocab", "embeddings", "embeddings_format", "freeze_embeddings", "pretrain_epochs", "unlabeled"};
  const nlohmann::json wanted = han::to_json(merged_config(command));
  nlohmann::json config = han::to_json(saved);
  std::vector<std::string> refused;
  for (const std::string& key : given_keys(command)) {
    const std::string section = key.substr(0, key.find('.')), name = key.substr(key.find('.') + 1);
    if (!wanted.contains(section) || !wanted[section].contains(name)) continue;
    if (section == "train" && kVocabularyKeys.count(name)) {
      refused.push_back(fmt::format("{} (the vocabulary and vectors are the model's)", key));
    } else if (section == "train") {
      config[section][name] = wanted[section][name];
    } else if (wanted[section][name] != config[section][name]) {
      refused.push_back(fmt::format("{} ({} here, {} in the model)", key, wanted[section][name].dump(),
                                    config[section][name].dump()));
    }
  }
  if (!refused.empty()) {
    throw han::UsageError(
        fmt::format("--init keeps the model's network, text and vocabulary settings, but these "
                    "differ: {}",
                    fmt::join(refused, ", ")));
  }
  han::Config merged = han::config_from_json(config);
  merged.train.embeddings.clear();  // the model's vectors are its own now
  merged.train.unlabeled.clear();
  han::validate(merged);
  return merged;
}

// The corpus fields the model was trained with, unless given again.
void take_model_fields(han::CorpusOptions& corpus, const nlohmann::json& fields) {
  if (corpus.text_field.empty()) corpus.text_field = fields.value("text_field", "");
  if (corpus.label_field.empty()) corpus.label_field = fields.value("label_field", "");
  take_csv_hints(fields, corpus.delimiter, corpus.no_header);
}

}  // namespace

namespace {

// --unlabeled exists, and no file the run writes lies in its folder, where a
// later run would read it (the model, its lock, metrics, checkpoint) as text.
void check_unlabeled_text(const std::string& unlabeled, const std::vector<std::string>& outputs) {
  if (unlabeled.empty()) return;
  std::error_code ec;
  if (!std::filesystem::exists(unlabeled, ec)) {
    throw han::InputError(fmt::format(
        "{}: cannot open the unlabeled text (--unlabeled): give a folder of text files, a text file or a corpus",
        unlabeled));
  }
  if (!std::filesystem::is_directory(unlabeled, ec)) return;
  const auto folder = std::filesystem::weakly_canonical(unlabeled, ec);
  for (const std::string& output : outputs) {
    const auto path = std::filesystem::weakly_canonical(std::filesystem::absolute(output, ec), ec);
    const auto [end, at] = std::mismatch(folder.begin(), folder.end(), path.begin(), path.end());
    if (end == folder.end()) {
      throw han::UsageError(
          fmt::format("{}: lies in the unlabeled text's folder {}, where the next run would read it as text: write it "
                      "elsewhere",
                      output, unlabeled));
    }
  }
}

}  // namespace

int run_train(const TrainCommand& given, const CommonOptions& common) {
  TrainCommand command = given;
  const std::string resume_path = resume_path_of(command, common);
  han::Checkpoint checkpoint;
  han::Config config;
  std::optional<han::Model> init;
  if (!command.init.empty()) {
    if (!command.resume.empty()) {
      throw han::UsageError("--init starts a new run from a model, --resume continues a checkpoint: give one");
    }
    init.emplace(han::load_model(command.init));
    config = warm_start_config(command, init->config);
    take_model_fields(command.corpus, init->fields);
  } else if (!resume_path.empty()) {
    checkpoint = han::load_checkpoint(resume_path);
    config = checkpoint.model.config;
    // Settings given again must be the checkpoint's: rerunning the same command with --resume works.
    if (!command.config_file.empty() || !command.overrides.empty()) {
      const std::set<std::string> keys = given_keys(command);
      config = han::resumed_config(with_saved_choices(merged_config(command), keys, checkpoint.run), keys, config);
    }
    take_run_paths(command, given, checkpoint.run, resume_path, common);
    // A checkpoint written after the last epoch has none in progress: resuming
    // it only does what follows training (the refit, saving the model).
    if (config.train.epochs < checkpoint.state.epoch && !checkpoint.state.finished) {
      throw han::UsageError(
          fmt::format("--epochs {}: the checkpoint is in epoch {}; give {} or more (that many "
                      "ends the run after the epoch in progress)",
                      config.train.epochs, checkpoint.state.epoch, checkpoint.state.epoch));
    }
  } else {
    config = merged_config(command);
  }
  if (common.threads > 0) config.train.threads = common.threads;
  if (command.dump_config) {
    fmt::print("{}\n", han::to_json(config).dump(2));
    return 0;
  }
  if (command.data.empty()) throw han::UsageError("train needs a corpus: han train DATA -o MODEL");
  if (command.checkpoint.empty()) command.checkpoint = command.output + ".ckpt";
  if (command.checkpoint_every < 0) throw han::UsageError("--checkpoint-every must be 0 or more");
  const han::WorldInfo world = han::world_from_environment();
  const bool lead = world.rank == 0;  // rank 0 writes the model, checkpoints and logs
  // Fail in the first second, not after training.
  const std::string metrics_path = command.metrics.empty() ? command.output + ".metrics.jsonl" : command.metrics;
  if (lead) {
    const std::vector<std::string> inputs = {
        command.data, command.valid,         config.train.embeddings, config.train.class_weights,
        command.init, config.train.unlabeled};
    std::vector<std::string> inputs_and_resumed = inputs;
    inputs_and_resumed.push_back(resume_path);
    han::check_output_path(command.output, inputs_and_resumed);
    han::check_output_path(metrics_path, inputs_and_resumed, /*streamed=*/true);
    if (!command.no_checkpoint) han::check_output_path(command.checkpoint, inputs);  // may be the resumed one
  }
  if (command.nproc > 1 && !world.distributed()) {
    if (!han::distributed_available()) throw han::UsageError("--nproc: " + han::distributed_unavailable_reason());
    note(common, fmt::format("starting {} workers (ranks 0-{}); rank 0 reports", command.nproc, command.nproc - 1));
    return han::launch_local_workers(command.nproc, command.argv, std::chrono::seconds(10));
  }
  if (world.distributed() && command.nproc > 1 && command.nproc != world.world_size) {
    throw han::UsageError(fmt::format("--nproc {} differs from WORLD_SIZE={}; under torchrun leave --nproc out",
                                      command.nproc, world.world_size));
  }
  // One run per output at a time: rank 0 holds MODEL.lock until it is done.
  std::optional<han::OutputLock> lock;
  if (lead) lock.emplace(command.output);
  const Placement placement = place_training(command, common, world, config);
  if (resume_path.empty() && !config.train.embeddings.empty() && !std::ifstream(config.train.embeddings)) {
    throw han::InputError(fmt::format("{}: cannot open the word vectors", config.train.embeddings));
  }
  check_unlabeled_text(config.train.unlabeled, {command.output, metrics_path, command.checkpoint});
  const std::string& weights = config.train.class_weights;
  std::error_code ec;
  // Checked, not opened: a pipe (<(...)) is read once, later.
  if (weights != "none" && weights != "balanced" &&
      (!std::filesystem::exists(weights, ec) || std::filesystem::is_directory(weights, ec))) {
    throw han::InputError(fmt::format(
        "train.class_weights: cannot open '{}': give none, balanced or a JSON file like {{\"spam\": 3}}", weights));
  }

  const CommonOptions& rank_common = placement.common;
  // However multi-label was asked (--multi-label, --set, a config, --init,
  // a checkpoint), a folder corpus's copies in several classes are one document.
  han::CorpusOptions corpus_options = command.corpus;
  corpus_options.multi_label_folders = corpus_options.multi_label_folders || config.model.multi_label;
  ProgressBar bar(!rank_common.quiet && stderr_is_terminal());
  han::TokenizedCorpus train =
      load_training_corpus(command.data, command.format, corpus_options, config, !command.no_cache, rank_common, bar);
  std::optional<han::TokenizedCorpus> valid;
  if (!command.valid.empty()) {
    valid = load_training_corpus(command.valid, command.format, corpus_options, config, !command.no_cache, rank_common,
                                 bar);
  }
  nlohmann::json choices = nlohmann::json::array();
  if (init) {
    note(rank_common, fmt::format("starting from {}: its vocabulary ({} words), labels and weights; its settings "
                                  "but those of train given here",
                                  command.init, init->vocabulary.size()));
  } else {
    choices = resume_path.empty() ? choose_settings(command, train, config, rank_common)
                                  : checkpoint.run.value("choices", nlohmann::json::array());
  }
  std::ofstream metrics;
  if (lead) metrics = open_metrics_log(metrics_path, checkpoint);
  han::CheckpointOptions checkpoints =
      checkpoint_options(command, resume_path.empty() ? nullptr : &checkpoint, metrics_path);
  checkpoints.run["choices"] = choices;
  checkpoints.init = init ? &*init : nullptr;
  if (!command.no_cache) checkpoints.cache_folder = han::default_cache_folder();

  han::TrainingReport report;
  han::Model model = [&] {
    StopSignals signals;
    return han::train_model(std::move(train), std::move(valid), config,
                            console_callbacks(bar, rank_common, lead ? &metrics : nullptr, config.train.epochs),
                            &report, checkpoints, placement.execution);
  }();
  bar.clear();
  if (report.interrupted) {
    if (lead) report_interrupted(report, checkpoints);
    return interrupted_exit_code();
  }
  model.choices = choices;
  if (!command.corpus.text_field.empty()) model.fields["text_field"] = command.corpus.text_field;
  if (!command.corpus.label_field.empty()) model.fields["label_field"] = command.corpus.label_field;
  model.fields.update(csv_hints(command.corpus));
  if (lead) save_trained(model, report, command, checkpoints, metrics_path, common);
  return 0;
}

namespace {

// How wrong a multi-label prediction is: the labels decided wrongly (gold
// labels the model does not know count too), and the probability of the
// surest wrong decision. {0, 0}: the predicted set is the gold set.
std::pair<int, double> multilabel_errors(const han::Model& model, const han::Document& document,
                                         const han::Prediction& prediction) {
  const std::vector<std::string> gold = han::labels_of(document);
  int errors = 0;
  double surest = 0;
  for (const std::string& label : gold) errors += model.labels.id(label) < 0;
  for (int64_t k = 0; k < model.labels.size(); ++k) {
    const bool is_gold = std::find(gold.begin(), gold.end(), model.labels.name(k)) != gold.end();
    // An empty document gets no label, as in --predictions.
    const bool chosen = !prediction.empty &&
                        std::find(prediction.chosen.begin(), prediction.chosen.end(), k) != prediction.chosen.end();
    if (is_gold == chosen) continue;
    ++errors;
    const double p = prediction.probabilities[static_cast<size_t>(k)];
    surest = std::max(surest, chosen ? p : 1 - p);
  }
  return {errors, surest};
}

// The misclassified documents, surest mistakes first: single-label by the
// wrong label's probability; multi-label by how many labels are wrong, then
// by the surest wrong decision.
std::vector<size_t> misclassified(const han::Model& model, const han::Corpus& corpus,
                                  const std::vector<han::Prediction>& predictions) {
  std::vector<std::pair<double, double>> how_wrong(predictions.size());
  std::vector<size_t> wrong;
  for (size_t i = 0; i < predictions.size(); ++i) {
    const han::Prediction& p = predictions[i];
    if (model.config.model.multi_label) {
      const auto [errors, surest] = multilabel_errors(model, corpus.documents[i], p);
      if (errors == 0) continue;
      how_wrong[i] = {errors, surest};
    } else {
      if (model.labels.name(p.label) == corpus.documents[i].label) continue;
      how_wrong[i] = {p.probabilities[static_cast<size_t>(p.label)], 0.0};
    }
    wrong.push_back(i);
  }
  std::stable_sort(wrong.begin(), wrong.end(), [&](size_t a, size_t b) { return how_wrong[a] > how_wrong[b]; });
  return wrong;
}

// The misclassified documents' attention page: where a user looks first. At
// most command.html_max of them are explained.
void write_misclassified_report(const EvaluateCommand& command, const han::Model& model, const han::Corpus& corpus,
                                const std::vector<han::Prediction>& predictions, int threads,
                                const CommonOptions& common) {
  const std::vector<size_t> wrong = misclassified(model, corpus, predictions);
  const size_t shown = std::min(wrong.size(), static_cast<size_t>(std::max(0, command.html_max)));
  std::vector<han::Document> documents;
  for (size_t k = 0; k < shown; ++k) documents.push_back(corpus.documents[wrong[k]]);
  han::Predictor predictor(model, command.batch_size, threads, han::resolve_device(common.device));
  const auto explanations = predictor.explain(documents);
  nlohmann::json objects = nlohmann::json::array();
  for (size_t k = 0; k < shown; ++k) {
    objects.push_back(han::explanation_to_json(explanations[k], documents[k], model.labels));
  }
  han::ReportOptions options;
  options.title = fmt::format("han: misclassified documents of {}", command.data);
  options.subtitle =
      fmt::format("model {}; {} of {} documents misclassified{}{}, {}", command.model, wrong.size(), predictions.size(),
                  model.config.model.multi_label ? " (the predicted label set is not the gold one)" : "",
                  shown < wrong.size() ? fmt::format(", the first {} shown (--html-max)", shown) : "",
                  model.config.model.multi_label ? "most wrong labels first" : "most confident first");
  han::write_file_atomically(command.html, han::render_html_report(objects, options));
  note(common, fmt::format("wrote {} misclassified documents to {}", shown, command.html));
}

}  // namespace

namespace {

// evaluate --predictions: per document its gold label, whether the model got
// it, and every label's probability, best first (the prediction schema).
void write_evaluated_predictions(const std::string& path, const han::Model& model, const han::Corpus& corpus,
                                 const std::vector<han::Prediction>& predictions, const CommonOptions& common) {
  han::AtomicFileWriter file(path);
  const int all = static_cast<int>(model.labels.size());
  for (size_t i = 0; i < predictions.size(); ++i) {
    const han::Document& document = corpus.documents[i];
    nlohmann::json line{{"source", document.origin},
                        {"gold", document.label},
                        {"correct", model.labels.name(predictions[i].label) == document.label}};
    if (model.config.model.multi_label) {
      // Label sets (gold in the model's label order): correct when they are equal.
      std::vector<std::string> gold, predicted;
      const std::vector<std::string> document_labels = han::labels_of(document);
      for (const std::string& label : model.labels.names()) {
        if (std::find(document_labels.begin(), document_labels.end(), label) != document_labels.end())
          gold.push_back(label);
      }
      if (!predictions[i].empty) {  // an empty document gets no label, as in "labels"
        for (const auto& [label, p] : han::top_labels(predictions[i], model.labels, 0, 0.0f))
          predicted.push_back(label);
      }
      line["gold"] = gold;
      line["predicted"] = predicted;
      line["correct"] =
          std::set<std::string>(predicted.begin(), predicted.end()) == std::set<std::string>(gold.begin(), gold.end());
    }
    line.update(han::prediction_to_json(predictions[i], model.labels, all, 0.0f));
    file.write(json_text(line) + "\n");
  }
  file.commit();
  note(common, fmt::format("wrote the predictions of {} documents to {}", predictions.size(), path));
}

}  // namespace

namespace {

// evaluate on a multi-label model: the scores, --predictions and the --html
// report of documents whose predicted label set is not the gold one.
int evaluate_multilabel(const EvaluateCommand& command, const han::Model& model, const han::Corpus& corpus,
                        const CommonOptions& common) {
  std::vector<han::Prediction> predictions;
  ProgressBar bar(!common.quiet && stderr_is_terminal());
  const auto start = std::chrono::steady_clock::now();
  const han::MultiLabelReport report = han::evaluate_multilabel(
      model, corpus, command.batch_size, effective_threads(common),
      [&](int64_t done, int64_t total) { bar.update("evaluating", done, total); }, han::resolve_device(common.device),
      command.predictions.empty() && command.html.empty() ? nullptr : &predictions);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bar.clear();
  note(common, fmt::format("classified {} documents in {:.1f}s at the model's thresholds", report.documents, seconds));
  if (!command.html.empty())
    write_misclassified_report(command, model, corpus, predictions, effective_threads(common), common);
  if (!command.predictions.empty())
    write_evaluated_predictions(command.predictions, model, corpus, predictions, common);
  if (command.json) {
    auto json = han::to_json(report);
    json["seconds"] = seconds;
    fmt::print("{}\n", json.dump());
  } else {
    fmt::print("{}", han::format_report(report));
  }
  return 0;
}

}  // namespace

int run_evaluate(const EvaluateCommand& command, const CommonOptions& common) {
  const han::Model model = han::load_model(command.model);
  han::CorpusOptions corpus_options = command.corpus;
  // The fields the model was trained on, unless given again.
  for (auto [field, key] :
       {std::pair{&corpus_options.text_field, "text_field"}, {&corpus_options.label_field, "label_field"}}) {
    if (field->empty() && model.fields.contains(key)) {
      *field = model.fields[key].get<std::string>();
      note(common, fmt::format("reading the field '{}' as the model was trained (--{} to change it)", *field,
                               key == std::string("text_field") ? "text-field" : "label-field"));
    }
  }
  take_csv_hints(model.fields, corpus_options.delimiter, corpus_options.no_header);
  // A multi-label model's folder corpus: a file in several class folders is one document.
  corpus_options.multi_label_folders = corpus_options.multi_label_folders || model.config.model.multi_label;
  han::Corpus corpus = read_labeled(command.data, command.format, corpus_options, common);
  ProgressBar bar(!common.quiet && stderr_is_terminal());
  const int threads = effective_threads(common);
  const auto start = std::chrono::steady_clock::now();
  if (!command.html.empty()) han::check_output_path(command.html, {command.model, command.data});
  if (!command.predictions.empty()) {
    han::check_output_path(command.predictions, {command.model, command.data});
    std::error_code ec;
    if (!command.html.empty() && std::filesystem::weakly_canonical(command.html, ec) ==
                                     std::filesystem::weakly_canonical(command.predictions, ec)) {
      throw han::UsageError(fmt::format("--predictions and --html are both {}: give two files", command.predictions));
    }
  }
  if (model.config.model.multi_label) return evaluate_multilabel(command, model, corpus, common);
  if (const auto several = std::find_if(corpus.documents.begin(), corpus.documents.end(),
                                        [](const han::Document& d) { return !d.labels.empty(); });
      several != corpus.documents.end()) {
    throw han::InputError(
        fmt::format("{}: {} labels, but the model is single-label: give one label a document, or "
                    "train a multi-label model on such a corpus",
                    several->origin, several->labels.size()));
  }
  std::vector<han::Prediction> predictions;
  han::EvaluationReport report = han::evaluate(
      model, corpus, command.batch_size, threads,
      [&](int64_t done, int64_t total) { bar.update("evaluating", done, total); }, &predictions,
      han::resolve_device(common.device));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bar.clear();
  note(common, fmt::format("classified {} documents in {:.1f}s ({:.0f} docs/s, tokenization included)",
                           report.documents, seconds, static_cast<double>(report.documents) / std::max(1e-9, seconds)));
  if (!command.html.empty()) {
    write_misclassified_report(command, model, corpus, predictions, threads, common);
  }
  if (!command.predictions.empty())
    write_evaluated_predictions(command.predictions, model, corpus, predictions, common);
  if (command.json) {
    auto json = han::to_json(report);
    json["seconds"] = seconds;
    fmt::print("{}\n", json.dump());
  } else {
    fmt::print("{}", han::format_report(report));
  }
  return 0;
}

namespace {

// What the caps and empty documents did to a run's predictions, said once at the end.
void note_cuts(const CommonOptions& common, const han::Model& model, int64_t empty, int64_t truncated,
               const std::string& cut_counts) {
  if (empty > 0) note(common, fmt::format("{} empty document{} got no label", empty, empty == 1 ? "" : "s"));
  if (truncated > 0) {
    note(common, fmt::format("caps cut {}{} documents (max_sentences {}, max_words {}, max_bytes {}: the model was "
                             "trained with these)",
                             cut_counts, truncated, model.config.text.max_sentences, model.config.text.max_words,
                             model.config.text.max_bytes));
  }
}

// A TSV field: tabs, line breaks, NULs and backslashes written as \t, \n,
// \r, \0 and \\, other control characters as \xHH, so that one document
// stays one line of so many columns.
std::string tsv_field(const std::string& value) {
  const bool plain = std::none_of(value.begin(), value.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\';
  });
  if (plain) return value;
  std::string out;
  for (const char c : value) {
    switch (c) {
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\0':
        out += "\\0";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  return out;
}

// classify -o FILE on one CSV, TSV or JSON Lines file: the records as read
// plus the prediction, in the same format, streamed.
int classify_corpus_file(const ClassifyCommand& command, const han::Model& model, han::CorpusFormat format,
                         const CommonOptions& common) {
  const std::string& input = command.inputs.paths.front();
  const han::CorpusFormat wanted = han::corpus_format_by_name(command.output);
  if (wanted != han::CorpusFormat::Auto && wanted != format) {
    throw han::UsageError(
        fmt::format("-o {}: the predictions of a {} file are written as {}: name the output "
                    "after its format",
                    command.output, han::to_string(format), han::to_string(format)));
  }
  han::CorpusOptions options;
  options.format = format;
  options.text_field =
      command.inputs.text_field.empty() ? model.fields.value("text_field", "") : command.inputs.text_field;
  options.delimiter = command.inputs.delimiter;
  options.no_header = command.inputs.no_header;
  note_csv_hints(common, model, options);
  ProgressBar bar(!common.quiet && stderr_is_terminal());
  han::Predictor predictor(model, command.batch_size, effective_threads(common), han::resolve_device(common.device));
  han::AnnotateOptions annotate;
  annotate.top_k = command.top_k;
  annotate.threshold = command.threshold;
  const auto start = std::chrono::steady_clock::now();
  const han::AnnotateSummary summary =
      han::annotate_corpus(predictor, model.labels, input, options, command.output, annotate,
                           [&](int64_t done, int64_t) { bar.update("classifying", done, 0); });
  bar.clear();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  note(common, fmt::format("wrote {} records of {} with their predictions to {} ({}, {:.1f}s)", summary.documents,
                           input, command.output, han::to_string(summary.format), seconds));
  if (summary.stats.invalid_utf8) note(common, describe(summary.stats));
  note_cuts(common, model, summary.empty, summary.truncated, "");
  return 0;
}

}  // namespace

namespace {

// One document's line of classify: JSON (--json, -o) or TSV.
std::string prediction_line(const han::Document& document, const han::Prediction& prediction,
                            const han::LabelSet& labels, const ClassifyCommand& command, bool to_file) {
  if (command.json || to_file) {
    nlohmann::json object{{"source", document.origin}};
    object.update(han::prediction_to_json(prediction, labels, command.top_k, command.threshold));
    return json_text(object);
  }
  std::string line = tsv_field(document.origin);
  // An empty document gets no label: any label would be a guess from nothing.
  if (prediction.empty) return line + "\t\t";  // an empty label and probability
  for (const auto& [label, p] : han::top_labels(prediction, labels, command.top_k, command.threshold)) {
    line += fmt::format("\t{}\t{:.4f}", tsv_field(label), p);
  }
  return line;
}

}  // namespace

namespace {

int classify_with(const ClassifyCommand& command, const han::Model& model, const CommonOptions& common) {
  std::optional<han::AtomicFileWriter> file;
  if (!command.output.empty()) {
    std::vector<std::string> inputs = command.inputs.paths;
    inputs.push_back(command.model);
    han::check_output_path(command.output, inputs);
    const auto& paths = command.inputs.paths;
    const han::CorpusFormat format = input_format(paths.front(), command.inputs);
    if (paths.size() == 1 && (format == han::CorpusFormat::Csv || format == han::CorpusFormat::Tsv ||
                              format == han::CorpusFormat::JsonLines)) {
      return classify_corpus_file(command, model, format, common);
    }
    const han::CorpusFormat wanted = han::corpus_format_by_name(command.output);
    if (wanted != han::CorpusFormat::Auto && wanted != han::CorpusFormat::JsonLines) {
      throw han::UsageError(
          fmt::format("-o {}: predictions of these inputs are written as JSON Lines (one CSV, TSV "
                      "or JSON Lines input keeps its format): name the output .jsonl",
                      command.output));
    }
  }
  han::InputReader reader = open_inputs(command.inputs, model, common);
  ProgressBar bar(!common.quiet && stderr_is_terminal());
  han::Predictor predictor(model, command.batch_size, effective_threads(common), han::resolve_device(common.device));
  if (!command.output.empty()) file.emplace(command.output);
  int64_t empty = 0, truncated = 0, sentences_cut = 0, words_cut = 0, bytes_cut = 0, done = 0;
  // Each block's predictions are written before the next block is read.
  const int64_t documents = for_each_block(reader, [&](const std::vector<han::Document>& block) {
    const auto predictions = predictor.predict(block);
    bar.clear();
    for (size_t i = 0; i < block.size(); ++i) {
      const han::Prediction& prediction = predictions[i];
      const bool cut = prediction.sentences_cut + prediction.words_cut + prediction.bytes_cut > 0;
      empty += prediction.empty;
      truncated += cut;
      sentences_cut += prediction.sentences_cut;
      words_cut += prediction.words_cut;
      bytes_cut += prediction.bytes_cut;
      const std::string line = prediction_line(block[i], prediction, model.labels, command, file.has_value());
      if (file) {
        file->write(line + "\n");
      } else {
        fmt::print("{}\n", line);
      }
    }
    if (!file) std::fflush(stdout);
    done += static_cast<int64_t>(block.size());
    bar.update("classifying", done, 0);
  });
  bar.clear();
  note_inputs(common, reader);
  if (file) {
    file->commit();
    note(common, fmt::format("wrote {} predictions to {} (JSON Lines)", documents, command.output));
  }
  note_cuts(common, model, empty, truncated,
            fmt::format("{} sentences, {} words and {} bytes from ", sentences_cut, words_cut, bytes_cut));
  return 0;
}

}  // namespace

int run_classify(const ClassifyCommand& command, const CommonOptions& common) {
  if (command.top_k < 1) throw han::UsageError("--top-k must be at least 1");
  if (!(command.threshold >= 0.0f && command.threshold <= 1.0f)) {
    throw han::UsageError(fmt::format("--threshold {}: expected a probability from 0 to 1", command.threshold));
  }
  const han::Model model = han::load_model(command.model);
  ClassifyCommand resolved = command;
  if (model.config.model.multi_label && !command.top_k_given) resolved.top_k = 0;
  return classify_with(resolved, model, common);
}

namespace {

std::string describe_size(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  return b < 1e6 ? fmt::format("{:.0f} KB", b / 1e3) : fmt::format("{:.1f} MB", b / 1e6);
}

}  // namespace

int run_explain(const ExplainCommand& command, const CommonOptions& common) {
  const han::Model model = han::load_model(command.model);
  std::vector<std::string> inputs = command.inputs.paths;
  inputs.push_back(command.model);
  if (!command.output.empty()) han::check_output_path(command.output, inputs);
  if (!command.html.empty()) han::check_output_path(command.html, inputs);
  std::error_code ec;
  if (!command.output.empty() && !command.html.empty() &&
      std::filesystem::weakly_canonical(command.output, ec) == std::filesystem::weakly_canonical(command.html, ec)) {
    throw han::UsageError(fmt::format("-o and --html are both {}: give two files", command.output));
  }
  han::InputReader reader = open_inputs(command.inputs, model, common);
  ProgressBar bar(!common.quiet && stderr_is_terminal());
  han::Predictor predictor(model, command.batch_size, effective_threads(common), han::resolve_device(common.device));
  const auto render = [&](const han::Document& document, const han::Explanation& e) {
    return command.summary
               ? fmt::format("{}: {}", document.origin, han::summarize_explanation(e, model.labels))
               : han::explanation_to_json(e, document, model.labels)
                         .dump(command.pretty ? 2 : -1, ' ', false, nlohmann::json::error_handler_t::replace) +
                     "\n";
  };
  // Each explanation is written, to stdout, -o FILE or the page (both
  // written atomically), as its block is done, and then dropped.
  std::optional<han::AtomicFileWriter> file, page_file;
  std::optional<han::HtmlReportWriter> page;
  if (!command.output.empty()) file.emplace(command.output);
  if (!command.html.empty()) {
    page_file.emplace(command.html);
    han::ReportOptions options;
    options.subtitle = fmt::format("model {}", command.model);
    page.emplace([&](std::string_view bytes) { page_file->write(bytes); }, options);
  }
  int64_t done = 0;
  const int64_t documents = for_each_block(reader, [&](const std::vector<han::Document>& block) {
    predictor.explain_each(block, [&](size_t i, han::Explanation&& e) {
      if (page) page->add(han::explanation_to_json(e, block[i], model.labels));
      if (file) {
        file->write(render(block[i], e));
      } else if (!page) {
        bar.clear();
        fmt::print("{}", render(block[i], e));
      }
    });
    if (!file && !page) std::fflush(stdout);
    done += static_cast<int64_t>(block.size());
    bar.update("explaining", done, 0);
  });
  bar.clear();
  note_inputs(common, reader);
  if (page) {
    page->finish();
    page_file->commit();
    note(common, fmt::format("wrote the attention of {} documents to {} ({})", documents, command.html,
                             describe_size(page->bytes_written())));
    if (documents > 2000) {
      note(common, "browsers grow slow past a few thousand documents on one page: split the inputs if it drags");
    }
  }
  if (file) {
    file->commit();
    note(common, fmt::format("wrote {} explanations to {}", documents, command.output));
  }
  return 0;
}

int run_serve(const ServeCommand& command, const CommonOptions& common) {
#ifdef HAN_WITH_SERVE
  // `--api-key "$KEY"` with KEY unset must not quietly serve without one.
  if (command.api_key_given && command.api_key.find_first_not_of(" \t") == std::string::npos) {
    throw han::UsageError("--api-key (or HAN_API_KEY) is empty: give the key, or set neither to serve without one");
  }
  const han::Model model = han::load_model(command.model);
  han::ServeOptions options;
  options.host = command.host;
  options.port = command.port;
  options.http_threads = command.http_threads;
  options.batch_workers = effective_threads(common);
  options.device = han::resolve_device(common.device);
  options.max_batch_documents = command.max_batch;
  options.max_delay_us = static_cast<int>(command.max_delay_ms * 1000);
  options.max_body_bytes = static_cast<size_t>(command.max_body);
  options.max_documents = static_cast<size_t>(command.max_documents);
  options.api_key = command.api_key;
  options.read_timeout_s = command.read_timeout;
  options.max_connections = command.max_connections;
  if (!command.no_log) {
    options.log = [](const std::string& line) { fmt::print(stderr, "han: {}\n", line); };
  }
  han::serve(model, command.model, options, [&](int port) {
    // The one line a script waits for, even with -q: it names the port (--port 0 picks one).
    fmt::print(stderr, "han: serving {} on http://{}:{}/ ({} labels, {} batch workers{}); Ctrl-C or SIGTERM stops\n",
               command.model, command.host, port, model.labels.size(), options.batch_workers,
               options.api_key.empty() ? "" : ", API key required on /v1/*");
    std::fflush(stderr);
  });
  note(common, "stopped");
  return 0;
#else
  (void)command;
  (void)common;
  throw han::UsageError("this han was built without Boost.Beast (libboost-dev): han serve is not available");
#endif
}

int run_prepare(const PrepareCommand& command, const CommonOptions& common) {
  if (command.output.empty()) throw han::UsageError("prepare needs an output: han prepare CORPUS -o corpus.hanc");
  if (han::is_prepared_file(command.data)) {
    throw han::UsageError(fmt::format("{} is prepared already: train on it with han train {} -o MODEL", command.data,
                                      quote(command.data)));
  }
  han::Config config;
  if (!command.config_file.empty()) config = han::load_config(command.config_file, config);
  for (const std::string& assignment : command.overrides) config = han::apply_override(config, assignment);
  han::validate_values(config);
  if (common.threads > 0) config.train.threads = common.threads;
  han::check_output_path(command.output, {command.data});
  std::error_code exists_ec;
  if (std::filesystem::exists(command.output, exists_ec) && !han::is_prepared_file(command.output)) {
    throw han::InputError(
        fmt::format("{}: exists and is not a prepared corpus; han prepare replaces only those: "
                    "choose another output, e.g. {}.hanc",
                    command.output, command.output));
  }
  const auto start = std::chrono::steady_clock::now();
  han::CorpusLoadOptions options;
  options.reader = command.corpus;
  options.reader.format = han::parse_corpus_format(command.format);
  options.reader.threads = common.threads;
  options.text = config.text;
  options.threads = han::configure_threads(config.train.threads);
  ProgressBar bar(!common.quiet && stderr_is_terminal());
  options.on_tokenized = [&](int64_t done, int64_t total) { bar.update("tokenizing", done, total); };
  const han::TokenizedCorpus corpus = han::prepare_corpus(
      command.data, options, han::prepared_key(command.data, options.reader, options.text), command.output);
  bar.clear();
  note(common, fmt::format("read {} ({}): {}", command.data, han::to_string(corpus.format), describe(corpus.stats)));
  std::error_code ec;
  fmt::print("wrote {}: {} documents, {} tokens, {} distinct words, {} labels, {:.1f} MB in {:.1f} s\n", command.output,
             corpus.text.documents, corpus.text.tokens, corpus.forms.size(), corpus.labels.size(),
             static_cast<double>(std::filesystem::file_size(command.output, ec)) / 1e6,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  note(common, fmt::format("train on it: han train {} -o MODEL (with the same text settings)", quote(command.output)));
  return 0;
}

int run_embed(const EmbedCommand& command, const CommonOptions& common) {
  han::Word2VecOptions options = command.word2vec;
  options.threads =
      common.threads > 0 ? common.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  han::validate(options);
  if (command.inputs.empty()) throw han::UsageError("embed needs text: han embed CORPUS... -o VECTORS");
  han::check_output_path(command.output, command.inputs);

  han::CorpusOptions corpus = command.corpus;
  corpus.format = han::parse_corpus_format(command.format);
  std::vector<han::Document> documents;
  for (const std::string& path : command.inputs) {
    han::CorpusStats stats;
    auto part = han::read_unlabeled(path, corpus, &stats);
    note(common, fmt::format("read {}: {}", path, describe(stats)));
    documents.insert(documents.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }

  // The classifier's tokenization, without its per-document caps.
  han::TextOptions text;
  text.lowercase = !command.cased;
  text.locale = command.locale;
  text.max_sentences = 0;
  text.max_words = 0;
  ProgressBar bar(!common.quiet && stderr_is_terminal());
  const auto start = std::chrono::steady_clock::now();
  han::EncodedText encoded = han::encode_texts(
      documents.size(), [&](size_t i) { return std::string_view(documents[i].text); }, text, options.min_count,
      options.max_vocab, options.threads,
      [&](size_t done) {
        bar.update("tokenizing", static_cast<int64_t>(done), static_cast<int64_t>(documents.size()));
      });
  const double tokenize_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  documents = {};
  bar.clear();
  note(common, fmt::format("{} tokens in {:.1f}s; {} words seen at least {} times cover {:.1f}% of them",
                           encoded.tokens, tokenize_seconds, encoded.words.size(), options.min_count,
                           encoded.tokens
                               ? 100.0 * static_cast<double>(encoded.ids.size()) / static_cast<double>(encoded.tokens)
                               : 0.0));

  const auto train_start = std::chrono::steady_clock::now();
  han::WordVectors vectors = han::train_word2vec(encoded, options, [&](const han::Word2VecProgress& p) {
    bar.update(fmt::format("epoch {}/{}", p.epoch, p.epochs), p.words_done, p.words_total,
               fmt::format("{:.0f}k words/s  lr {:.5f}", p.words_per_second / 1000, p.learning_rate));
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
  bar.clear();
  han::save_word_vectors(vectors, command.output, command.binary);
  const double words_per_second = static_cast<double>(encoded.ids.size()) * options.epochs / std::max(seconds, 1e-9);
  fmt::print(
      "wrote {} ({} words x {}, word2vec {}); trained {} epoch{} in {:.1f}s: {:.0f} words/s, {:.0f} per thread ({} "
      "thread{})\n",
      command.output, vectors.size(), vectors.dimension, command.binary ? "binary" : "text", options.epochs,
      options.epochs == 1 ? "" : "s", seconds, words_per_second, words_per_second / options.threads, options.threads,
      options.threads == 1 ? "" : "s");
  han::Tokenizer tokenizer(text);  // the query gets the same normalisation as the corpus
  for (const std::string& word : command.neighbours) {
    const han::TokenizedDocument query = tokenizer.tokenize(word);
    const std::string form = query.sentences.empty() ? word : query.sentences.front().words.front().form;
    const auto neighbours = vectors.nearest(form, command.neighbours_k);
    if (neighbours.empty()) {
      fmt::print("{}: not in the vocabulary\n", word);
      continue;
    }
    std::string line = fmt::format("{}:", word);
    for (const auto& [neighbour, similarity] : neighbours) line += fmt::format(" {} ({:.2f})", neighbour, similarity);
    fmt::print("{}\n", line);
  }
  return 0;
}

int run_bench(BenchCommand command, const CommonOptions& common) {
  han::Config config = command.config_file.empty() ? han::Config{} : han::load_config(command.config_file);
  for (const auto& assignment : command.overrides) config = han::apply_override(config, assignment);
  han::validate(config);
  command.options.config = config;
  command.options.corpus_format = han::parse_corpus_format(command.format);
  command.options.threads = effective_threads(common);
  command.options.device = han::resolve_device(command.device);
  command.options.mixed_precision = command.amp;
  if (!command.write_documents.empty()) {
    han::check_output_path(command.write_documents);
    std::ostringstream out;
    han::write_encoded_documents(han::make_synthetic_documents(command.options.synthetic), out);
    han::write_file_atomically(command.write_documents, out.str());
    note(common, fmt::format("wrote {} synthetic documents to {}", command.options.synthetic.documents,
                             command.write_documents));
    return 0;
  }
  nlohmann::json result = han::run_benchmark(command.options, [&](const std::string& text) { note(common, text); });
  fmt::print("{}", command.json ? result.dump() + "\n" : han::format_benchmark(result));
  return 0;
}

namespace {

bool is_checkpoint_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, sizeof magic);
  return in.gcount() == 8 && std::string(magic, 8) == "HANCKPT1";
}

// inspect on a checkpoint: where the run stands, what it reads and writes,
// and how to continue it; then its model as for a model file.
nlohmann::json describe_checkpoint(const han::Checkpoint& checkpoint) {
  const han::TrainingState& state = checkpoint.state;
  nlohmann::json out{{"epoch", state.epoch},
                     {"epochs", checkpoint.model.config.train.epochs},
                     {"step", state.step},
                     {"global_step", state.global_step},
                     {"best_epoch", state.best_epoch},
                     {"finished", state.finished},
                     {"finished_epochs", nlohmann::json::array()},
                     {"run", checkpoint.run}};
  for (const auto& epoch : state.epochs) out["finished_epochs"].push_back(han::to_json(epoch));
  return out;
}

int inspect_checkpoint(const InspectCommand& command) {
  const han::Checkpoint checkpoint = han::load_checkpoint(command.model);
  const nlohmann::json described = describe_checkpoint(checkpoint);
  if (command.json) {
    nlohmann::json out = han::describe_model(checkpoint.model);
    out["checkpoint"] = described;
    fmt::print("{}\n", json_text(out));
    return 0;
  }
  const han::TrainingState& state = checkpoint.state;
  fmt::print("checkpoint     {} (a training run, not a model: han train --resume {} continues it)\n", command.model,
             command.model);
  const int epochs = checkpoint.model.config.train.epochs;
  if (state.finished) {
    fmt::print(
        "progress       every epoch done ({}, {} batches); --resume does what follows: the refit "
        "(train.refit) and saving the model\n",
        state.epochs.size(), state.global_step);
  } else {
    fmt::print("progress       epoch {} of {}, {} batches into it ({} in all)\n", state.epoch, epochs, state.step,
               state.global_step);
  }
  if (state.best_epoch > 0) {
    fmt::print("best so far    epoch {} (validation {} {:.4f})\n", state.best_epoch,
               checkpoint.model.config.train.select_by, state.best_accuracy);
  }
  for (const auto& [key, value] : checkpoint.run.items()) {
    if (value.empty() || (value.is_string() && value.get<std::string>().empty())) continue;
    fmt::print("run {:<11}{}\n", key, value.is_string() ? value.get<std::string>() : value.dump());
  }
  fmt::print("labels         {} ({})\nvocabulary     {} words\n", checkpoint.model.labels.size(),
             fmt::join(checkpoint.model.labels.names(), ", "), checkpoint.model.vocabulary.size());
  return 0;
}

}  // namespace

namespace {

// One line from a model's training record: "22500 documents, 2500 held out; best epoch ...".
std::string describe_training(const nlohmann::json& t) {
  std::string line = fmt::format("{} documents", t.value("documents", 0));
  if (t.value("validation_documents", 0) > 0)
    line += fmt::format(", {} validation", t.value("validation_documents", 0));
  line += fmt::format("; epoch {} of {} kept", t.value("best_epoch", 0), t.value("epochs", 0));
  const std::pair<const char*, const char*> scores[] = {
      {"validation_accuracy", "accuracy"}, {"validation_micro_f1", "micro-F1"}, {"validation_macro_f1", "macro-F1"}};
  std::vector<std::string> shown;
  for (const auto& [key, name] : scores) {
    if (t.contains(key) && t[key].is_number())
      shown.push_back(fmt::format("{} {:.2f}%", name, 100 * t[key].get<double>()));
  }
  if (!shown.empty()) line += fmt::format(", validation {}", fmt::join(shown, ", "));
  if (t.value("refit_epochs", 0) > 0) {
    line += fmt::format("; then refit on all {} documents for {} epochs", t.value("refit_documents", 0),
                        t.value("refit_epochs", 0));
  }
  if (t.value("unlabeled_documents", 0) > 0) {
    line += fmt::format("; word vectors also from {} unlabeled documents", t.value("unlabeled_documents", 0));
  }
  return line;
}

}  // namespace

int run_inspect(const InspectCommand& command) {
  if (is_checkpoint_file(command.model)) return inspect_checkpoint(command);
  han::Model model = han::load_model(command.model);
  const int64_t parameters = han::count_parameters(*model.network);
  if (command.json) {
    fmt::print("{}\n", han::describe_model(model).dump());
    return 0;
  }
  fmt::print(
      "model          {}\nformat         version {}\nlabels         {} ({})\nvocabulary     {} words\n"
      "parameters     {}\nconfig\n{}\n",
      command.model, han::kModelFormatVersion, model.labels.size(), fmt::join(model.labels.names(), ", "),
      model.vocabulary.size(), parameters, han::to_json(model.config).dump(2));
  if (!model.class_weights.empty()) {
    std::vector<std::string> shown;
    for (size_t k = 0; k < model.class_weights.size(); ++k) {
      shown.push_back(fmt::format("{} {:.3g}", model.labels.names()[k], model.class_weights[k]));
    }
    fmt::print("class weights  {}\n", fmt::join(shown, ", "));
  }
  for (const auto& [key, value] : model.fields.items()) {
    std::string name = key;
    std::replace(name.begin(), name.end(), '_', ' ');
    fmt::print("{:<15}{} (evaluate and classify read files so unless told otherwise)\n", name,
               value.is_string() ? value.get<std::string>() : value.dump());
  }
  if (!model.training.empty()) fmt::print("trained        {}\n", describe_training(model.training));
  if (!model.choices.empty()) {
    fmt::print("chosen by han train from the corpus\n");
    for (const auto& choice : model.choices) {
      fmt::print("  {} = {}: {}\n", choice.value("key", "?"), choice.value("value", nlohmann::json()).dump(),
                 choice.value("reason", ""));
    }
  }
  return 0;
}
