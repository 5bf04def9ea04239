// Benchmarks: training and inference throughput, one-document latency and
// the machine's matrix-product rate, on a synthetic corpus of a fixed length
// distribution or on a real one. `han bench` prints them; bench/cpu.sh runs
// it beside the Python reference (bench/reference/) and takes medians.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "han/data/data.h"
#include "han/model/model.h"
#include "han/train/train.h"

namespace han {

// Documents of uniform(min_sentences, max_sentences) sentences of
// uniform(min_words, max_words) words: 5-25 x 5-40 gives 337.5 tokens on
// average. Word ids follow a Zipf law (exponent `zipf`) over the vocabulary,
// as words of natural text do; labels are uniform.
struct SyntheticSpec {
  int documents = 2048;
  int vocabulary = 30000;  // PAD and UNK included
  int labels = 2;
  int min_sentences = 5, max_sentences = 25;
  int min_words = 5, max_words = 40;
  double zipf = 1.0;
  uint64_t seed = 1;
};
std::vector<EncodedDocument> make_synthetic_documents(const SyntheticSpec& spec);

// One JSON object per line, {"label": L, "sentences": [[id, ...], ...]}:
// what bench/reference/han_reference.py reads, so both see the same documents.
void write_encoded_documents(const std::vector<EncodedDocument>& documents, std::ostream& out);

// A model of the config's sizes over `vocabulary` placeholder words, freshly
// initialised: speed does not depend on the weights.
Model make_bench_model(const Config& config, int vocabulary, int labels);

struct MatmulRate {
  std::string shape;  // "MxKxN"
  std::string role;   // what in HAN has this shape
  double gflops = 0;  // all threads together
};
// Each thread runs its own products at once, as the engine's threads do.
std::vector<MatmulRate> measure_matmul_rates(int threads, int64_t tokens_per_thread);

struct Throughput {
  int64_t documents = 0;
  int64_t tokens = 0;
  double seconds = 0;
  double docs_per_second = 0;
  double gflops = 0;  // han_flops over seconds: the reference-equivalent work per second
};

// Optimisation steps over `documents` in bucketed batches (one epoch), with
// config.train (engine, optimizer, batch size) on `threads` threads. On a GPU
// (execution.device) the network must be there already; the reference engine
// runs, and the clock stops once the device has finished.
Throughput measure_training(Model& model, const std::vector<EncodedDocument>& documents, const Config& config,
                            int threads, uint64_t seed, const ExecutionOptions& execution = {});

// Batch inference. engine "fused": the Predictor, its vocabulary table
// computed beforehand; "reference": the LibTorch modules with intra-op threads.
// On a GPU (`device`) the Predictor's copy of the network runs there, host
// batches copied to it and probabilities back, as a user's classify does.
Throughput measure_inference(const Model& model, const std::vector<EncodedDocument>& documents, int batch_size,
                             int threads, Engine engine = Engine::kFused, const torch::Device& device = torch::kCPU);

struct Latency {
  int64_t documents = 0;
  double median_ms = 0;
  double p90_ms = 0;
};
// Each document alone, one thread: the time from encoded ids to probabilities.
Latency measure_latency(const Model& model, const std::vector<EncodedDocument>& documents,
                        Engine engine = Engine::kFused, const torch::Device& device = torch::kCPU);

// Peak resident memory of this process so far, in MiB.
double peak_rss_mib();

nlohmann::json to_json(const Throughput& t);
nlohmann::json to_json(const Latency& l);

// What `han bench` runs.
struct BenchOptions {
  Config config;  // model sizes, train.engine, train.batch_size, optimizer
  int threads = 1;
  SyntheticSpec synthetic;  // used unless `corpus` is given
  int inference_documents = 4096;
  int latency_documents = 200;
  int runs = 1;        // training epochs measured; the median is reported
  std::string corpus;  // a labeled corpus instead of synthetic documents
  CorpusFormat corpus_format = CorpusFormat::Auto;
  int64_t corpus_limit = 0;  // 0: every document
  std::vector<std::string> phases{"matmul", "inference", "latency", "training"};
  torch::Device device = torch::kCPU;  // a GPU: the reference engine there; matmul stays on the CPU
  bool mixed_precision = false;        // training with float16 autocast (GPU only), as train --amp
};

// Runs the phases and returns their results as one JSON object (documented
// in docs/BENCHMARKS.md). `progress` receives one-line notes.
nlohmann::json run_benchmark(const BenchOptions& options, const std::function<void(const std::string&)>& progress = {});

// A readable table of run_benchmark's result.
std::string format_benchmark(const nlohmann::json& result);

}  // namespace han
