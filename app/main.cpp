// han: train, classify and explain with a Hierarchical Attention Network.
// Only option wiring here; the work is in the library (han/).
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>

#include "commands.h"
#include "han/base/error.h"
#include "han/dist/distributed.h"

namespace {

// What the chosen command runs, set by its callback while parsing.
struct Cli {
  CommonOptions common;
  std::vector<std::string> argv;
  std::function<int()> run;
};

// Choosing `command` on the command line makes cli.run call `run`.
void on_chosen(CLI::App* command, Cli& cli, std::function<int()> run) {
  command->callback([&cli, run = std::move(run)] { cli.run = run; });
}

constexpr const char* kFormats = "auto|folder|csv|tsv|jsonl|fasttext";

// An output or input path given as "" (an unset $VAR) would be ignored: refuse it.
const CLI::Validator kNonEmptyPath(
    [](const std::string& path) { return path.empty() ? std::string("the path is empty: give a file name") : ""; },
    "PATH");

void add_device_option(CLI::App* command, std::string& device) {
  command->add_option("--device", device, "auto (CUDA when LibTorch sees a GPU), cpu, cuda or cuda:N")
      ->capture_default_str();
}

// --delimiter and --no-header, for CSV and TSV files.
void add_csv_options(CLI::App* command, char& delimiter, bool& no_header) {
  command->add_option_function<std::string>(
      "--delimiter",
      [&delimiter](const std::string& given) {
        const std::string value = given == "tab" || given == "\\t" ? "\t" : given;
        if (value.size() != 1 || value == "\"" || value == "\n" || value == "\r") {
          throw CLI::ValidationError("--delimiter", "expected one character, e.g. ';' or '|', or tab");
        }
        delimiter = value[0];
      },
      "CSV/TSV field separator (default: ',' for .csv, tab for .tsv), e.g. ';' or tab");
  command->add_flag("--no-header", no_header,
                    "CSV/TSV without a header row: columns are numbered 1, 2, ...; the label is column 1 and "
                    "the text every other column unless --label-field/--text-field give numbers");
}

void add_corpus_options(CLI::App* command, std::string& format, han::CorpusOptions& corpus) {
  command->add_option("--format", format, std::string("corpus format: ") + kFormats)->capture_default_str();
  command->add_option("--text-field", corpus.text_field,
                      "CSV column or JSON field holding the text (default: guessed)");
  command->add_option("--label-field", corpus.label_field,
                      "CSV column or JSON field holding the label (default: guessed)");
  add_csv_options(command, corpus.delimiter, corpus.no_header);
  command->add_option_function<std::string>(
      "--label-separator",
      [&corpus](const std::string& given) {
        if (given.size() != 1 || given == "\"" || given == "\n" || given == "\r") {
          throw CLI::ValidationError("--label-separator", "expected one character, e.g. '|' or ','");
        }
        corpus.label_separator = given[0];
      },
      "CSV/TSV: the label field holds several labels separated by this character (e.g. '|'): a multi-label "
      "corpus");
}

// classify's and explain's documents: files, folders, stdin, and corpus files record by record.
void add_prediction_inputs(CLI::App* command, PredictionInputs& inputs) {
  command
      ->add_option("inputs", inputs.paths,
                   "files, folders (every file below), or - for stdin; a .csv, .tsv or "
                   ".jsonl file gives a document a record")
      ->capture_default_str();
  command->add_flag("--lines", inputs.lines, "each non-empty line of a text file is a document");
  command
      ->add_option("--format", inputs.format,
                   "auto (by the file name: .csv, .tsv, .jsonl are corpora, anything else one text), text, "
                   "csv, tsv, jsonl or fasttext")
      ->capture_default_str();
  command->add_option("--text-field", inputs.text_field,
                      "CSV column or JSON field holding the text (default: the model's, else guessed)");
  add_csv_options(command, inputs.delimiter, inputs.no_header);
}

// A shortcut option becomes "section.key=value", applied before --set.
template <typename T>
void add_shortcut(CLI::App* command, std::vector<std::string>& overrides, const std::string& flag,
                  const std::string& key, const std::string& help) {
  command->add_option_function<T>(
      flag,
      [&overrides, key](const T& value) {
        if constexpr (std::is_same_v<T, std::string>) {
          overrides.push_back(key + "=" + nlohmann::json(value).dump());  // quoted: "123" stays a string
        } else {
          overrides.push_back(fmt::format("{}={}", key, value));
        }
      },
      help);
}

void add_demo(CLI::App& app, Cli& cli) {
  struct Args {
    han::DemoOptions demo;
    bool dump_config = false;
    std::vector<std::string> sets;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("demo", "Train on a synthetic corpus written by han, then explain held-out reviews");
  cmd->add_option("-o,--output", a->demo.output_dir, "folder for the corpus, model and attention JSON")
      ->capture_default_str();
  cmd->add_option("--documents", a->demo.train_documents, "synthetic training documents")->capture_default_str();
  cmd->add_option("--heldout", a->demo.heldout_per_class, "held-out documents per genre")->capture_default_str();
  cmd->add_option("--epochs", a->demo.config.train.epochs, "training epochs")->capture_default_str();
  cmd->add_option("--seed", a->demo.config.train.seed, "seed for the corpus and the training")->capture_default_str();
  cmd->add_option("--set", a->sets,
                  "override a pinned setting: section.key=value (e.g. --set train.epochs=6); repeatable")
      ->allow_extra_args(false);
  cmd->add_flag("--dump-config", a->dump_config, "print the demo's pinned configuration as JSON and exit");
  on_chosen(cmd, cli, [a, &cli] {
    for (const std::string& assignment : a->sets) a->demo.config = han::apply_override(a->demo.config, assignment);
    return run_demo_command(a->demo, a->dump_config, cli.common);
  });
}

// The shortcuts for common settings: each becomes section.key=value, applied before --set.
void add_train_shortcuts(CLI::App* cmd, std::vector<std::string>& shortcuts) {
  add_shortcut<int>(cmd, shortcuts, "--epochs", "train.epochs", "training epochs");
  add_shortcut<int>(cmd, shortcuts, "--batch-size", "train.batch_size", "documents per batch");
  add_shortcut<double>(cmd, shortcuts, "--lr", "train.learning_rate", "learning rate");
  add_shortcut<std::string>(cmd, shortcuts, "--optimizer", "train.optimizer",
                            "adam, lazy_adam (moves only the embedding rows a batch used) or sgd (momentum 0.9)");
  add_shortcut<uint64_t>(cmd, shortcuts, "--seed", "train.seed",
                         "seed for initialisation, shuffling and the validation split");
  add_shortcut<double>(cmd, shortcuts, "--dropout", "model.dropout", "dropout on sentence and document vectors");
  add_shortcut<double>(cmd, shortcuts, "--average", "train.average",
                       "keep a moving average of the weights with this decay (e.g. 0.995); validate and save it");
  add_shortcut<double>(cmd, shortcuts, "--word-dropout", "train.word_dropout",
                       "replace this share of the words of each training batch by UNK (e.g. 0.1)");
  add_shortcut<double>(cmd, shortcuts, "--sentence-dropout", "train.sentence_dropout",
                       "leave this share of each training document's sentences out of each step (e.g. 0.2)");
  add_shortcut<double>(cmd, shortcuts, "--valid-fraction", "train.valid_fraction",
                       "share held out for validation without --valid");
  add_shortcut<int>(cmd, shortcuts, "--patience", "train.patience", "epochs without improvement before stopping");
  add_shortcut<std::string>(cmd, shortcuts, "--select-by", "train.select_by",
                            "validation score that picks the best epoch: accuracy, macro_f1 (for rare labels) "
                            "or loss");
  add_shortcut<std::string>(cmd, shortcuts, "--class-weights", "train.class_weights",
                            "weigh each class's documents in the loss: none, balanced (rare classes weigh more) "
                            "or a JSON file {\"label\": weight}");
  add_shortcut<double>(cmd, shortcuts, "--time-budget", "train.time_budget",
                       "seconds to train at most: no epoch starts that would end past them (0: no limit)");
  add_shortcut<int>(cmd, shortcuts, "--max-steps", "train.max_steps",
                    "batches to train at most, then stop within the epoch and keep the best (0: no limit)");
  cmd->add_flag_callback(
      "--refit", [&shortcuts] { shortcuts.push_back("train.refit=always"); },
      "after early stopping on the held-out share, train a fresh model on all the training data for the epochs "
      "that scored best, and keep that one");
  add_shortcut<int>(cmd, shortcuts, "--min-count", "train.min_count", "keep words seen at least this often");
  add_shortcut<int>(cmd, shortcuts, "--max-vocab", "train.max_vocab", "vocabulary size cap, PAD and UNK included");
  add_shortcut<int>(cmd, shortcuts, "--max-sentences", "text.max_sentences", "sentences kept per document");
  add_shortcut<int>(cmd, shortcuts, "--max-words", "text.max_words", "words kept per sentence");
  cmd->add_flag_callback(
      "--join-lines", [&shortcuts] { shortcuts.push_back("text.join_lines=true"); },
      "read a lone line break as a space, so hard-wrapped sentences stay whole; blank lines still end sentences");
  add_shortcut<std::string>(cmd, shortcuts, "--embeddings", "train.embeddings",
                            "pretrained word vectors: word2vec text or binary, or GloVe; .gz too");
  add_shortcut<std::string>(cmd, shortcuts, "--embeddings-format", "train.embeddings_format",
                            "auto, word2vec, word2vec-binary or glove");
  cmd->add_flag_callback(
      "--freeze-embeddings", [&shortcuts] { shortcuts.push_back("train.freeze_embeddings=true"); },
      "keep pretrained vectors fixed instead of fine-tuning them");
  add_shortcut<std::string>(cmd, shortcuts, "--unlabeled", "train.unlabeled",
                            "text without labels to pretrain the word vectors on too (a folder of files, a text file "
                            "of one document a line, or a corpus whose labels are ignored), e.g. aclImdb/train/unsup; "
                            "never the test documents");
}

// Checkpoints, data-parallel workers and the device.
void add_train_run_options(CLI::App* cmd, TrainCommand& train, std::string& device) {
  cmd->add_option("--resume", train.resume,
                  "continue from a checkpoint, with its settings and paths; 'auto': MODEL.ckpt if it exists");
  cmd->add_option("--init", train.init,
                  "start from a model: its vocabulary, labels, weights and settings (train settings may change); "
                  "to train a finished model further or fine-tune it on new documents")
      ->check(kNonEmptyPath);
  cmd->add_option("--checkpoint", train.checkpoint, "checkpoint file (default: MODEL.ckpt)");
  cmd->add_option("--checkpoint-every", train.checkpoint_every,
                  "also checkpoint every N batches (0: only after each epoch)")
      ->capture_default_str();
  cmd->add_flag("--no-checkpoint", train.no_checkpoint, "write no checkpoints");
  cmd->add_option("--nproc", train.nproc,
                  "data-parallel: start N cooperating workers on this machine (c10d Gloo); each takes a share "
                  "of every batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--dist-timeout", train.dist_timeout,
                  "seconds a data-parallel rank waits for the others before it stops with an error")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  add_device_option(cmd, device);
  cmd->add_flag("--amp", train.amp, "mixed precision on CUDA: float16 autocast with dynamic loss scaling");
  add_corpus_options(cmd, train.format, train.corpus);
}

void add_train(CLI::App& app, Cli& cli) {
  struct Args {
    TrainCommand train;
    std::vector<std::string> shortcuts, sets;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train", "Train a model on a labeled corpus");
  cmd->add_option("data", a->train.data,
                  "training corpus: a folder ROOT/<label>/<file>, CSV/TSV, JSON Lines or fastText file, or a "
                  "file of han prepare");
  cmd->add_option("-o,--output", a->train.output, "model file to write")->capture_default_str();
  cmd->add_option("--valid", a->train.valid,
                  "validation corpus, text or of han prepare (default: a stratified share of the training data)");
  cmd->add_option("--metrics", a->train.metrics, "metrics log, one JSON line per epoch (default: MODEL.metrics.jsonl)");
  cmd->add_option("-c,--config", a->train.config_file, "configuration file, e.g. configs/han-paper.json");
  cmd->add_option("--set", a->sets,
                  "override any setting: section.key=value (e.g. --set model.dropout=0.3); repeatable")
      ->allow_extra_args(false);
  cmd->add_flag("--dump-config", a->train.dump_config,
                "print the merged configuration as JSON and exit (before the choices made from the corpus)");
  cmd->add_flag("--no-auto", a->train.no_auto,
                "choose nothing from the corpus: train with the built-in defaults and your settings only");
  cmd->add_flag("--no-cache", a->train.no_cache,
                "tokenize the corpus and pretrain the word vectors again, without the cache of tokenized corpora "
                "and vectors (see han prepare)");
  add_train_shortcuts(cmd, a->shortcuts);
  add_train_run_options(cmd, a->train, cli.common.device);
  cmd->add_flag_callback(
      "--multi-label",
      [a] {
        a->shortcuts.push_back("model.multi_label=true");
        a->train.corpus.multi_label_folders = true;
      },
      "one sigmoid output per label, for documents with several labels (on by itself when a JSON label array "
      "or repeated __label__ gives one several); in a folder corpus, a file with the same name and bytes in "
      "several class folders is one document with all their labels");
  cmd->footer(
      "Settings apply in this order: built-in defaults, --config, shortcut options, --set. Then han\n"
      "chooses the settings you did not give from the corpus's size, classes and script (word vectors\n"
      "pretrained on the training text, frozen or not; rare words kept or not; dropout), prints one\n"
      "line per choice and stores them in the model (han inspect shows them). --no-auto turns it off.\n"
      "Examples:\n"
      "  han train aclImdb/train -o imdb.han\n"
      "  han train reviews.csv --text-field review --label-field stars -o stars.han --epochs 5\n"
      "  han train corpus.jsonl -c configs/han-paper.json --set train.learning_rate=0.02 -o m.han\n"
      "  han train aclImdb/train --embeddings vectors.txt.gz -o imdb.han\n"
      "  han train aclImdb/train --unlabeled aclImdb/train/unsup -o imdb.han\n"
      "  han train --dump-config -c configs/han-paper.json\n"
      "  han train tags.jsonl -o tags.han       {\"text\": ..., \"labels\": [\"a\", \"b\"]}: multi-label by itself\n"
      "  han train topics/ --multi-label -o topics.han   a file copied into several class folders: one document\n"
      "  han train corpus.jsonl --set model.pooling=mean -o ave.han   the paper's HN-AVE (also max): no attention\n"
      "  han --threads 1 train aclImdb/train --nproc 2 -o imdb.han      2 workers here, c10d Gloo\n"
      "  torchrun --nproc_per_node=2 --no_python han --threads 1 train aclImdb/train -o imdb.han\n"
      "Data-parallel (--nproc, or torchrun's RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): each of N\n"
      "workers takes --batch-size documents of every N x --batch-size batch; the weights are those of\n"
      "one process with batch N x --batch-size. Rank 0 writes the model, checkpoints and logs.\n"
      "Checkpoints go to MODEL.ckpt after every epoch and every --checkpoint-every batches; Ctrl-C\n"
      "writes one and stops. Continue with: han train --resume MODEL.ckpt (or -o MODEL --resume auto).");
  on_chosen(cmd, cli, [a, &cli, cmd] {
    a->train.output_given = cmd->get_option("--output")->count() > 0;
    a->train.overrides = a->shortcuts;
    a->train.overrides.insert(a->train.overrides.end(), a->sets.begin(), a->sets.end());
    a->train.argv = cli.argv;
    return run_train(a->train, cli.common);
  });
}

void add_prepare(CLI::App& app, Cli& cli) {
  struct Args {
    PrepareCommand prepare;
    std::vector<std::string> shortcuts, sets;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("prepare", "Tokenize a labeled corpus once, into a file han train reads at once");
  cmd->add_option("data", a->prepare.data,
                  "labeled corpus: a folder ROOT/<label>/<file>, CSV/TSV, JSON Lines or fastText file")
      ->required();
  cmd->add_option("-o,--output", a->prepare.output, "prepared corpus to write, e.g. corpus.hanc")->required();
  cmd->add_option("-c,--config", a->prepare.config_file, "configuration file: its text settings apply");
  cmd->add_option("--set", a->sets, "a text setting: text.key=value (e.g. text.max_sentences=128); repeatable")
      ->allow_extra_args(false);
  add_shortcut<int>(cmd, a->shortcuts, "--max-sentences", "text.max_sentences", "sentences kept per document");
  add_shortcut<int>(cmd, a->shortcuts, "--max-words", "text.max_words", "words kept per sentence");
  cmd->add_flag_callback(
      "--join-lines", [a] { a->shortcuts.push_back("text.join_lines=true"); },
      "read a lone line break as a space, so hard-wrapped sentences stay whole");
  cmd->add_flag_callback(
      "--multi-label", [a] { a->prepare.corpus.multi_label_folders = true; },
      "in a folder corpus, a file with the same name and bytes in several class folders is one document");
  add_corpus_options(cmd, a->prepare.format, a->prepare.corpus);
  cmd->footer(
      "The file holds the documents as word ids, their sentence lengths and labels, and the settings\n"
      "they were made with. han train reads it instead of the text: the first step comes seconds sooner\n"
      "on a large corpus. Train with the same text settings (--max-sentences, --max-words, --join-lines).\n"
      "han train also keeps such files by itself, in $HAN_CACHE_DIR, else $XDG_CACHE_HOME/han, else\n"
      "~/.cache/han, one per corpus and text settings, rebuilt when the corpus changes (--no-cache: off).\n"
      "Examples:\n"
      "  han prepare aclImdb/train -o imdb.hanc\n"
      "  han train imdb.hanc -o imdb.han\n"
      "  han prepare posts.jsonl --max-sentences 256 -o posts.hanc && han train posts.hanc --max-sentences 256 -o "
      "m.han");
  on_chosen(cmd, cli, [a, &cli] {
    a->prepare.overrides = a->shortcuts;
    a->prepare.overrides.insert(a->prepare.overrides.end(), a->sets.begin(), a->sets.end());
    return run_prepare(a->prepare, cli.common);
  });
}

void add_evaluate(CLI::App& app, Cli& cli) {
  auto a = std::make_shared<EvaluateCommand>();
  auto* cmd = app.add_subcommand("evaluate", "Score a model on a labeled corpus");
  add_device_option(cmd, cli.common.device);
  cmd->add_option("model", a->model, "model file")->required();
  cmd->add_option("data", a->data, "labeled corpus")->required();
  cmd->add_flag("--json", a->json, "print one JSON object instead of tables");
  cmd->add_option("--batch-size", a->batch_size, "documents per batch")->capture_default_str();
  cmd->add_option("--html", a->html,
                  "also write an HTML page of the misclassified documents' attention, most confident first")
      ->check(kNonEmptyPath);
  cmd->add_option("--predictions", a->predictions,
                  "also write each document's prediction as JSON Lines: source, gold, correct, and every "
                  "label with its probability, best first")
      ->check(kNonEmptyPath);
  cmd->add_option("--html-max", a->html_max, "misclassified documents shown in --html at most")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_corpus_options(cmd, a->format, a->corpus);
  on_chosen(cmd, cli, [a, &cli] { return run_evaluate(*a, cli.common); });
}

void add_classify(CLI::App& app, Cli& cli) {
  auto a = std::make_shared<ClassifyCommand>();
  auto* cmd = app.add_subcommand("classify", "Label documents: one TSV line (or JSON line) per document");
  add_device_option(cmd, cli.common.device);
  cmd->add_option("model", a->model, "model file")->required();
  add_prediction_inputs(cmd, a->inputs);
  cmd->add_option("--top-k", a->top_k,
                  "labels to print per document (default 1; a multi-label model: every label over its threshold)");
  cmd->add_option("--threshold", a->threshold,
                  "leave out labels below this probability (a multi-label model: instead of its own thresholds)")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "JSON Lines: {\"source\", \"labels\": [{\"label\", \"probability\"}]}");
  cmd->add_option("-o,--output", a->output,
                  "write the predictions to this file (atomically): one CSV, TSV or JSON Lines input comes back "
                  "in its own format with the prediction added; anything else as JSON Lines")
      ->check(kNonEmptyPath);
  cmd->add_option("--batch-size", a->batch_size, "documents per batch")->capture_default_str();
  cmd->footer(
      "Output columns: source, then label and probability for each of the top-k labels; a tab, line\n"
      "break or backslash in a file name or label is written \\t, \\n, \\\\.\n"
      "With -o, a CSV or TSV file gets the columns predicted_label and probability (and _2, _3, ...\n"
      "with --top-k), a JSON Lines file a \"prediction\" field on each record; streamed, so files of\n"
      "any length fit in memory.\n"
      "Examples:\n"
      "  echo 'What a lovely film.' | han classify imdb.han - --top-k 2\n"
      "  han classify imdb.han reviews.csv -o reviews.predicted.csv\n"
      "  han classify imdb.han reviews.jsonl --text-field body -o reviews.predicted.jsonl");
  on_chosen(cmd, cli, [a, &cli, cmd] {
    a->top_k_given = cmd->get_option("--top-k")->count() > 0;
    return run_classify(*a, cli.common);
  });
}

void add_explain(CLI::App& app, Cli& cli) {
  auto a = std::make_shared<ExplainCommand>();
  auto* cmd = app.add_subcommand("explain", "Attention weights per sentence and word, as JSON");
  add_device_option(cmd, cli.common.device);
  cmd->add_option("model", a->model, "model file")->required();
  add_prediction_inputs(cmd, a->inputs);
  cmd->add_flag("--pretty", a->pretty, "indent the JSON (one object spans several lines)");
  cmd->add_flag("--summary", a->summary, "a readable summary instead of JSON");
  cmd->add_option("-o,--output", a->output, "write to this file (atomically) instead of stdout")->check(kNonEmptyPath);
  cmd->add_option("--html", a->html, "write one self-contained HTML page of the attention (then JSON only with -o)")
      ->check(kNonEmptyPath);
  cmd->add_option("--batch-size", a->batch_size, "documents per batch")->capture_default_str();
  cmd->footer(
      "One JSON object per document and line (JSON Lines); schema: docs/ATTENTION_JSON.md.\n"
      "--html draws it as in the HAN paper: a red bar per sentence for its weight, words shaded\n"
      "blue by sqrt(sentence weight) x word weight; hover a word for its numbers (docs/REPORT.md).\n"
      "Examples:\n"
      "  han explain imdb.han review.txt --pretty\n"
      "  han explain imdb.han aclImdb/test/neg --html neg.html");
  on_chosen(cmd, cli, [a, &cli] { return run_explain(*a, cli.common); });
}

void add_serve(CLI::App& app, Cli& cli) {
  auto a = std::make_shared<ServeCommand>();
  auto* cmd = app.add_subcommand("serve", "Serve a model over HTTP: a JSON API and a page to paste text into");
  add_device_option(cmd, cli.common.device);
  cmd->add_option("model", a->model, "model file")->required();
  cmd->add_option("--host", a->host, "address to listen on (0.0.0.0: every interface)")->capture_default_str();
  cmd->add_option("--port", a->port, "port (0: any free port, printed on stderr)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-threads", a->http_threads,
                  "requests computed at once (idle and slow connections hold none; 4x as many may wait, then 503)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-batch", a->max_batch, "documents of concurrent requests merged into one batch at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-delay-ms", a->max_delay_ms, "how long a batch waits for more requests")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--max-body", a->max_body, "largest request body in bytes (larger: 413)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-documents", a->max_documents, "documents per request at most (more: 413)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--api-key", a->api_key,
                  "require 'Authorization: Bearer KEY' on /v1/* (401 otherwise); prefer the HAN_API_KEY "
                  "variable, which ps does not show")
      ->envname("HAN_API_KEY");
  cmd->add_option("--read-timeout", a->read_timeout,
                  "seconds a connection has to send a request header (also the idle keep-alive limit); 3x for "
                  "the body")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--max-connections", a->max_connections, "connections open at once (more: 503, then closed)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-log", a->no_log, "no line per request on stderr");
  cmd->footer(
      "Endpoints (docs/SERVE.md):\n"
      "  GET  /              a page: paste text, press Explain, see the attention\n"
      "  POST /v1/classify   {\"documents\": [\"text\", {\"id\": \"a\", \"text\": \"...\"}]} -> labels and "
      "probabilities\n"
      "  POST /v1/explain    the same, plus the attention JSON of han explain\n"
      "  GET  /v1/model      labels, configuration, versions\n"
      "  GET  /healthz       {\"status\": \"ok\"}\n"
      "Batches are computed on --threads workers. Errors answer 4xx with {\"error\": \"...\"}.\n"
      "Example:\n"
      "  han serve imdb.han --port 8080 &\n"
      "  curl -s localhost:8080/v1/classify -d '{\"text\": \"A wonderful film.\"}'");
  on_chosen(cmd, cli, [a, &cli, cmd] {
    a->api_key_given = cmd->get_option("--api-key")->count() > 0;  // HAN_API_KEY counts
    return run_serve(*a, cli.common);
  });
}

void add_embed(CLI::App& app, Cli& cli) {
  auto a = std::make_shared<EmbedCommand>();
  auto* cmd = app.add_subcommand("embed", "Pretrain word vectors on raw text (skip-gram with negative sampling)");
  cmd->add_option("inputs", a->inputs,
                  "labeled corpora in any format (labels ignored), folders of text files such as aclImdb/train/unsup, "
                  "or plain text files (one document per line)")
      ->required();
  cmd->add_option("-o,--output", a->output, "vectors file to write (word2vec text format)")->capture_default_str();
  cmd->add_flag("--binary", a->binary, "write the word2vec binary format instead");
  cmd->add_option("--dim", a->word2vec.dimension, "vector size; match the classifier's model.embedding_dim")
      ->capture_default_str();
  cmd->add_option("--window", a->word2vec.window, "largest distance to a context word")->capture_default_str();
  cmd->add_option("--negative", a->word2vec.negative, "noise words per context word")->capture_default_str();
  cmd->add_option("--min-count", a->word2vec.min_count, "keep words seen at least this often")->capture_default_str();
  cmd->add_option("--max-vocab", a->word2vec.max_vocab, "keep only the most frequent words (0: no cap)")
      ->capture_default_str();
  cmd->add_option("--sample", a->word2vec.subsample, "subsampling threshold for frequent words (0: off)")
      ->capture_default_str();
  cmd->add_option("--epochs", a->word2vec.epochs, "passes over the text")->capture_default_str();
  cmd->add_option("--lr", a->word2vec.learning_rate, "starting learning rate, decayed linearly")->capture_default_str();
  cmd->add_option("--seed", a->word2vec.seed, "seed (with --threads 1 the vectors are reproducible)")
      ->capture_default_str();
  cmd->add_flag("--cased", a->cased, "keep letter case (then train with --set text.lowercase=false)");
  cmd->add_option("--locale", a->locale, "ICU locale of the segmentation rules")->capture_default_str();
  cmd->add_option("--neighbours", a->neighbours, "print the nearest words to these words at the end")->delimiter(',');
  cmd->add_option("--top", a->neighbours_k, "neighbours printed per word")->capture_default_str();
  cmd->add_option("--format", a->format, std::string("corpus format of file inputs: ") + kFormats)
      ->capture_default_str();
  cmd->add_option("--text-field", a->corpus.text_field, "CSV column or JSON field holding the text (default: guessed)");
  cmd->footer(
      "Tokenization is the classifier's (ICU segmentation, lower-cased), so the vectors fit 'han train --embeddings'.\n"
      "Examples:\n"
      "  han embed aclImdb/train -o imdb.vec            train/ with its unsup/ folder: 75,000 reviews\n"
      "  han train aclImdb/train --embeddings imdb.vec -o imdb.han\n"
      "  han embed notes.txt --dim 100 --epochs 10 --neighbours good,bad -o notes.vec");
  on_chosen(cmd, cli, [a, &cli] { return run_embed(*a, cli.common); });
}

void add_bench(CLI::App& app, Cli& cli) {
  struct Args : BenchCommand {
    std::vector<std::string> sets;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("bench", "Measure training and inference speed, latency and memory");
  cmd->add_option("--corpus", a->options.corpus, "a labeled corpus to measure on instead of synthetic documents");
  cmd->add_option("--format", a->format, std::string("corpus format: ") + kFormats)->capture_default_str();
  cmd->add_option("--limit", a->options.corpus_limit, "with --corpus: use this many documents, spread over it (0: all)")
      ->capture_default_str();
  cmd->add_option("--documents", a->options.synthetic.documents, "synthetic documents for the training epoch")
      ->capture_default_str();
  cmd->add_option("--inference-documents", a->options.inference_documents, "synthetic documents for batch inference")
      ->capture_default_str();
  cmd->add_option("--latency-documents", a->options.latency_documents, "documents timed one at a time")
      ->capture_default_str();
  cmd->add_option("--vocabulary", a->options.synthetic.vocabulary, "synthetic vocabulary size, PAD and UNK included")
      ->capture_default_str();
  cmd->add_option("--labels", a->options.synthetic.labels, "synthetic labels")->capture_default_str();
  cmd->add_option("--zipf", a->options.synthetic.zipf, "exponent of the synthetic word frequencies (0: uniform)")
      ->capture_default_str();
  cmd->add_option("--seed", a->options.synthetic.seed, "seed of the synthetic documents")->capture_default_str();
  cmd->add_option("--runs", a->options.runs, "training epochs to time; the median is reported")->capture_default_str();
  cmd->add_option("--phases", a->options.phases, "what to measure: matmul, inference, latency, training")
      ->delimiter(',')
      ->capture_default_str();
  add_shortcut<std::string>(cmd, a->overrides, "--engine", "train.engine",
                            "fused (default) or reference (the plain LibTorch modules)");
  add_shortcut<int>(cmd, a->overrides, "--batch-size", "train.batch_size", "documents per batch");
  cmd->add_option("-c,--config", a->config_file, "configuration file (model sizes, optimizer)");
  cmd->add_option("--set", a->sets, "override any setting: section.key=value")->allow_extra_args(false);
  cmd->add_option("--write-documents", a->write_documents,
                  "write the synthetic training documents as JSON lines (for bench/reference) and exit");
  cmd->add_option("--device", a->device,
                  "cpu, or cuda / cuda:N: inference, latency and training on that GPU (LibTorch's modules)")
      ->capture_default_str();
  cmd->add_flag("--amp", a->amp, "with a GPU: train with float16 autocast and dynamic loss scaling, as train --amp");
  cmd->add_flag("--json", a->json, "print one JSON object instead of a table");
  cmd->footer(
      "Defaults: the paper's sizes (embedding 200, GRU 50 per direction, attention 100), Adam, batch 64,\n"
      "2,048 synthetic documents of 5-25 sentences x 5-40 words (337.5 tokens on average) with Zipf word\n"
      "frequencies over 30,000 words. GFLOP/s counts the reference network's arithmetic (docs/BENCHMARKS.md).\n"
      "Examples:\n"
      "  han bench                                  everything, synthetic documents\n"
      "  han bench --engine reference --phases training,inference\n"
      "  han bench --corpus aclImdb/train --limit 5000 --phases training,inference\n"
      "  han --threads 1 bench --phases latency --json\n"
      "  han bench --device cuda --amp --documents 65536 --phases training,inference\n"
      "bench/cpu.sh and bench/gpu.sh run it beside the Python reference HAN on the same documents.");
  on_chosen(cmd, cli, [a, &cli] {
    a->overrides.insert(a->overrides.end(), a->sets.begin(), a->sets.end());  // shortcuts first
    return run_bench(*a, cli.common);
  });
}

void add_inspect(CLI::App& app, Cli& cli) {
  auto a = std::make_shared<InspectCommand>();
  auto* cmd = app.add_subcommand("inspect", "Show a model's config, vocabulary size, labels and parameter count");
  cmd->add_option("model", a->model, "model file")->required();
  cmd->add_flag("--json", a->json, "print one JSON object");
  on_chosen(cmd, cli, [a, &cli] { return run_inspect(*a); });
}
// "han: error: ", naming the rank in a data-parallel run, where several
// processes write to one terminal.
std::string error_prefix() {
  const char* rank = std::getenv("RANK");
  const char* world = std::getenv("WORLD_SIZE");
  if (rank && world && std::string(world) != "1") return fmt::format("han: rank {}: error: ", rank);
  return "han: error: ";
}

// Runs the chosen command; library errors become a message and an exit
// code: 2 for usage, 1 for the rest.
int run_reporting_errors(const std::function<int()>& run) {
  try {
    return run();
  } catch (const han::DistributedError& e) {
    fmt::print(stderr, "han: error: {}\n", e.what());  // it names the rank already
    return 1;
  } catch (const han::UsageError& e) {
    fmt::print(stderr, "{}{}\n", error_prefix(), e.what());
    return 2;
  } catch (const c10::Error& e) {
    // LibTorch's own checks: keep the message, drop the C++ backtrace.
    fmt::print(stderr, "{}{}\n", error_prefix(), e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}{}\n", error_prefix(), e.what());
    return 1;
  }
}

// Levenshtein distance: how many edits turn `a` into `b`.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The name closest to `word` (at most 2 edits, 1 for short words), or "".
std::string nearest(const std::string& word, const std::vector<std::string>& names) {
  size_t best_distance = word.size() >= 5 ? 3 : 2;
  std::string best;
  for (const std::string& name : names) {
    const size_t d = edit_distance(word, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  return best;
}

std::vector<std::string> option_names(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::Option* option : command.get_options()) {
    for (const std::string& n : option->get_lnames()) names.push_back("--" + n);
    for (const std::string& n : option->get_snames()) names.push_back("-" + n);
  }
  return names;
}

// After a usage error: "did you mean" for each misspelt verb or option.
void suggest_spellings(CLI::App& app, const std::vector<std::string>& args) {
  std::vector<std::string> verbs;
  for (const CLI::App* command : app.get_subcommands([](CLI::App*) { return true; })) {
    verbs.push_back(command->get_name());
  }
  const std::vector<CLI::App*> chosen = app.get_subcommands();
  std::vector<std::string> options = option_names(app);
  if (!chosen.empty()) {
    for (const std::string& n : option_names(*chosen.front())) options.push_back(n);
  }
  bool verb_seen = !chosen.empty();
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) == 0 && arg.size() > 2) {
      const std::string name = arg.substr(0, arg.find('='));
      if (std::find(options.begin(), options.end(), name) != options.end()) continue;
      const std::string guess = nearest(name, options);
      if (!guess.empty()) fmt::print(stderr, "han: {} is not an option; did you mean {}?\n", name, guess);
    } else if (!verb_seen && !arg.empty() && arg[0] != '-') {
      verb_seen = true;
      if (std::find(verbs.begin(), verbs.end(), arg) != verbs.end()) continue;
      const std::string guess = nearest(arg, verbs);
      if (!guess.empty()) fmt::print(stderr, "han: {} is not a command; did you mean han {}?\n", arg, guess);
    }
  }
}

// Builds the command line and runs the chosen command.
int run_main(int argc, char** argv) {
  CLI::App app{
      "han: document classification with Hierarchical Attention Networks (Yang et al., 2016).\n"
      "Train a classifier, classify documents, and see which sentences and words drove each decision."};
  app.require_subcommand(0, 1);
  // Global options (--threads, -q) work after the verb too: what a command
  // does not know falls through to here.
  app.fallthrough();
  app.footer(
      "Start here:\n"
      "  han demo                              train on a built-in synthetic corpus and explain held-out reviews\n"
      "  han train aclImdb/train -o imdb.han   train on a folder corpus (one sub-folder per label)\n"
      "  han prepare aclImdb/train -o imdb.hanc  tokenize a corpus once, for han train to read at once\n"
      "  han evaluate imdb.han aclImdb/test    accuracy, macro-F1, per-class scores, confusion matrix\n"
      "  han classify imdb.han review.txt      label and probability, one TSV line per document\n"
      "  han explain imdb.han review.txt       attention weights per sentence and word, as JSON\n"
      "  han serve imdb.han                    a JSON API and a page on http://127.0.0.1:8080/\n"
      "  han embed aclImdb/train -o imdb.vec   pretrain word vectors for han train --embeddings\n"
      "Run 'han COMMAND --help' for each command's options. Documentation: docs/CLI.md");

  Cli cli;
  cli.argv.assign(argv, argv + argc);
  app.add_flag("-q,--quiet", cli.common.quiet, "no progress or notes on stderr");
  app.add_option("--threads", cli.common.threads, "CPU threads (0: all cores)")->capture_default_str();
  add_demo(app, cli);
  add_train(app, cli);
  add_prepare(app, cli);
  add_evaluate(app, cli);
  add_classify(app, cli);
  add_explain(app, cli);
  add_serve(app, cli);
  add_embed(app, cli);
  add_bench(app, cli);
  add_inspect(app, cli);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help or the error
    if (code != 0) suggest_spellings(app, cli.argv);
    return code == 0 ? 0 : 2;  // usage errors exit 2, --help 0
  }
  if (!cli.run) {
    fmt::print(stderr, "{}\nhan: error: name a command, e.g. han demo\n", app.help());
    return 2;
  }
  return run_reporting_errors(cli.run);
}

}  // namespace

// Nothing escapes main: what run_reporting_errors does not know (e.g. memory
// running out while the options are built) still ends with a message and 1.
int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (...) {
    std::fputs("han: error: unexpected failure (out of memory?)\n", stderr);
    return 1;
  }
}
