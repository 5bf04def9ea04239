// One function per subcommand. Each calls the library and prints results to
// stdout, progress and notes to stderr. main.cpp maps exceptions to exit codes.
#pragma once

#include <string>
#include <vector>

#include "han/bench/bench.h"
#include "han/data/data.h"
#include "han/demo/demo.h"
#include "han/embed/word2vec.h"

struct CommonOptions {
  bool quiet = false;
  bool silent = false;  // not even warnings: data-parallel ranks but rank 0, which speaks for all
  int threads = 0;
  std::string device = "auto";  // --device on train, evaluate, classify, explain and serve
};

struct TrainCommand {
  std::string data;
  std::string valid;
  std::string output = "model.han";
  bool output_given = false;  // -o given; with --resume the checkpoint's output is used otherwise
  std::string metrics;        // default: <output>.metrics.jsonl
  std::string config_file;
  std::vector<std::string> overrides;
  han::CorpusOptions corpus;
  std::string format = "auto";
  bool dump_config = false;
  bool no_auto = false;             // take the settings as given: nothing chosen from the corpus
  bool no_cache = false;            // read and tokenize the corpus, neither using nor writing the cache
  std::string checkpoint;           // default: <output>.ckpt
  int64_t checkpoint_every = 1000;  // batches; 0: only after each epoch
  bool no_checkpoint = false;
  std::string resume;             // a checkpoint, or "auto": <output>.ckpt when it exists
  std::string init;               // a model to start from: its vocabulary, labels, weights and settings
  int nproc = 1;                  // data-parallel workers to start on this machine
  bool amp = false;               // mixed precision on CUDA
  double dist_timeout = 300;      // seconds a rank waits for the others
  std::vector<std::string> argv;  // this program's command line, for --nproc's workers
};

// han prepare: a corpus tokenized once into a file that han train reads.
struct PrepareCommand {
  std::string data;
  std::string output;
  std::string config_file;
  std::vector<std::string> overrides;  // only the text settings matter
  han::CorpusOptions corpus;
  std::string format = "auto";
};

struct EvaluateCommand {
  std::string model;
  std::string data;
  std::string format = "auto";
  han::CorpusOptions corpus;
  bool json = false;
  int batch_size = 64;
  std::string html;  // report of the misclassified documents, most confident first
  int html_max = 200;
  std::string predictions;  // JSON Lines: each document's gold label, prediction and probabilities
};

// Where classify and explain take documents from: a .csv/.tsv/.jsonl input (or
// any, with --format) is read as a corpus, one document a record, its text from
// --text-field, else the field the model was trained on, else guessed.
struct PredictionInputs {
  std::vector<std::string> paths{"-"};
  bool lines = false;
  std::string format = "auto";  // or text (each file one document), csv, tsv, jsonl, fasttext
  std::string text_field;
  char delimiter = 0;      // CSV/TSV: --delimiter
  bool no_header = false;  // CSV/TSV: --no-header
};

struct ClassifyCommand {
  std::string model;
  PredictionInputs inputs;
  int top_k = 1;
  bool top_k_given = false;  // else a multi-label model prints every label over its threshold
  float threshold = 0.0f;
  bool json = false;
  int batch_size = 64;
  std::string output;  // -o: predictions beside the records, in the input's format
};

struct ExplainCommand {
  std::string model;
  PredictionInputs inputs;
  bool pretty = false;
  bool summary = false;
  std::string output;  // default: stdout
  std::string html;    // an HTML report of every document; then JSON only with --output
  int batch_size = 64;
};

struct ServeCommand {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int http_threads = 64;
  int max_batch = 64;
  double max_delay_ms = 2.0;
  int64_t max_body = 1 << 20;
  int max_documents = 64;
  std::string api_key;         // or HAN_API_KEY
  bool api_key_given = false;  // an empty key given is a mistake, not "no key"
  int read_timeout = 10;
  int max_connections = 1024;
  bool no_log = false;
};

struct EmbedCommand {
  std::vector<std::string> inputs;
  std::string output = "vectors.vec";
  std::string format = "auto";
  han::CorpusOptions corpus;
  han::Word2VecOptions word2vec;
  bool binary = false;
  bool cased = false;  // keep letter case (train the classifier with text.lowercase=false then)
  std::string locale = "en";
  std::vector<std::string> neighbours;  // words whose nearest neighbours are printed at the end
  int neighbours_k = 10;
};

struct BenchCommand {
  han::BenchOptions options;
  std::string config_file;
  std::vector<std::string> overrides;  // --engine, --batch-size and --set, as section.key=value
  std::string format = "auto";
  std::string write_documents;  // write the synthetic documents as JSON lines here
  std::string device = "cpu";   // unlike the other commands' "auto": CPU figures unless a GPU is asked for
  bool amp = false;
  bool json = false;
};

struct InspectCommand {
  std::string model;
  bool json = false;
};

// Builds the merged configuration: defaults, then --config, then the
// shortcut options already folded into `overrides`, then --set.
han::Config merged_config(const TrainCommand& command);

int run_demo_command(han::DemoOptions options, bool dump_config, const CommonOptions& common);
int run_train(const TrainCommand& command, const CommonOptions& common);
int run_evaluate(const EvaluateCommand& command, const CommonOptions& common);
int run_classify(const ClassifyCommand& command, const CommonOptions& common);
int run_explain(const ExplainCommand& command, const CommonOptions& common);
int run_serve(const ServeCommand& command, const CommonOptions& common);
int run_embed(const EmbedCommand& command, const CommonOptions& common);
int run_prepare(const PrepareCommand& command, const CommonOptions& common);
int run_inspect(const InspectCommand& command);
int run_bench(BenchCommand command, const CommonOptions& common);
