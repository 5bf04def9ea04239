#include "han/bench/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>
#include <random>

#include <fmt/format.h>
#include <torch/torch.h>

#include "han/base/error.h"
#include "han/base/parallel.h"
#include "han/infer/infer.h"
#include "han/kernels/fused.h"
#include "han/train/train.h"

namespace han {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

int64_t count_tokens(const std::vector<EncodedDocument>& documents) {
  int64_t tokens = 0;
  for (const auto& d : documents) tokens += static_cast<int64_t>(d.word_ids.size());
  return tokens;
}

double total_flops(const ModelConfig& config, int64_t labels, const std::vector<EncodedDocument>& documents,
                   bool training) {
  double flops = 0;
  for (const auto& d : documents) {
    flops += han_flops(config, labels, static_cast<int64_t>(d.word_ids.size()),
                       static_cast<int64_t>(d.sentence_lengths.size()), training);
  }
  return flops;
}

Throughput throughput(const ModelConfig& config, int64_t labels, const std::vector<EncodedDocument>& documents,
                      double seconds, bool training) {
  Throughput t;
  t.documents = static_cast<int64_t>(documents.size());
  t.tokens = count_tokens(documents);
  t.seconds = seconds;
  t.docs_per_second = static_cast<double>(t.documents) / std::max(1e-9, seconds);
  t.gflops = total_flops(config, labels, documents, training) / std::max(1e-9, seconds) / 1e9;
  return t;
}

}  // namespace

std::vector<EncodedDocument> make_synthetic_documents(const SyntheticSpec& spec) {
  std::mt19937_64 rng(spec.seed);
  // Zipf over ids 2..vocabulary-1 (PAD and UNK excluded): P(rank k) ~ 1/k^s.
  const int words = std::max(1, spec.vocabulary - 2);
  std::vector<double> weights(static_cast<size_t>(words));
  for (int k = 0; k < words; ++k) weights[static_cast<size_t>(k)] = 1.0 / std::pow(k + 1.0, spec.zipf);
  std::discrete_distribution<int> word(weights.begin(), weights.end());
  std::uniform_int_distribution<int> sentences(spec.min_sentences, spec.max_sentences);
  std::uniform_int_distribution<int> length(spec.min_words, spec.max_words);
  std::uniform_int_distribution<int> label(0, spec.labels - 1);
  std::vector<EncodedDocument> documents(static_cast<size_t>(spec.documents));
  for (auto& d : documents) {
    const int count = sentences(rng);
    for (int s = 0; s < count; ++s) {
      const int n = length(rng);
      d.sentence_lengths.push_back(n);
      for (int w = 0; w < n; ++w) d.word_ids.push_back(2 + word(rng));
    }
    d.label = label(rng);
  }
  return documents;
}

void write_encoded_documents(const std::vector<EncodedDocument>& documents, std::ostream& out) {
  for (const auto& d : documents) {
    nlohmann::json sentences = nlohmann::json::array();
    size_t offset = 0;
    for (int32_t n : d.sentence_lengths) {
      sentences.push_back(
          std::vector<int32_t>(d.word_ids.begin() + static_cast<std::ptrdiff_t>(offset),
                               d.word_ids.begin() + static_cast<std::ptrdiff_t>(offset + static_cast<size_t>(n))));
      offset += static_cast<size_t>(n);
    }
    out << nlohmann::json{{"label", d.label}, {"sentences", sentences}}.dump() << '\n';
  }
}

Model make_bench_model(const Config& config, int vocabulary, int labels) {
  std::vector<std::string> words{Vocabulary::kPadToken, Vocabulary::kUnkToken};
  for (int i = 2; i < vocabulary; ++i) words.push_back(fmt::format("w{}", i));
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(labels));
  for (int i = 0; i < labels; ++i) names.push_back(fmt::format("label{}", i));
  return make_model(config, Vocabulary(std::move(words)), LabelSet::build(names));
}

std::vector<MatmulRate> measure_matmul_rates(int threads, int64_t tokens_per_thread) {
  struct Shape {
    int64_t m, k, n;
    const char* role;
  };
  const int64_t t = tokens_per_thread;
  const std::vector<Shape> shapes = {
      {t, 200, 300, "word GRU input projection, both directions (tokens x 200 x 300)"},
      {t, 100, 100, "word attention projection (tokens x 100 x 100)"},
      {300, t, 200, "input-weight gradient (300 x tokens x 200)"},
      {300, 50, 150, "one GRU step, 300 rows (300 x 50 x 150)"},
  };
  std::vector<MatmulRate> rates;
  for (const Shape& s : shapes) {
    const double flops = 2.0 * static_cast<double>(s.m * s.k * s.n);
    const int repeats = static_cast<int>(std::clamp(3e9 / flops, 3.0, 20000.0));
    std::vector<double> seconds(static_cast<size_t>(threads));
    run_on_threads(threads, [&](int w) {
      auto a = torch::randn({s.m, s.k});
      auto b = torch::randn({s.k, s.n});
      auto c = torch::empty({s.m, s.n});
      const auto product = [&] {
        matrix_product(a.data_ptr<float>(), b.data_ptr<float>(), c.data_ptr<float>(), s.m, s.k, s.n);
      };
      product();
      const auto start = Clock::now();
      for (int r = 0; r < repeats; ++r) product();
      seconds[static_cast<size_t>(w)] = seconds_since(start);
    });
    const double slowest = *std::max_element(seconds.begin(), seconds.end());
    rates.push_back({fmt::format("{}x{}x{}", s.m, s.k, s.n), s.role, flops * repeats * threads / slowest / 1e9});
  }
  return rates;
}

Throughput measure_training(Model& model, const std::vector<EncodedDocument>& documents, const Config& config,
                            int threads, uint64_t seed, const ExecutionOptions& execution) {
  torch::set_num_threads(1);  // the trainer's threads split each batch
  BatchTrainer trainer(model.network, config, threads, execution);
  std::mt19937_64 rng(seed);
  const auto batches = bucket_batches(documents, config.train.batch_size, &rng);
  const auto start = Clock::now();
  int64_t step = 0;
  for (const auto& indices : batches) {
    std::vector<const EncodedDocument*> members;
    members.reserve(indices.size());
    for (int64_t i : indices) members.push_back(&documents[static_cast<size_t>(i)]);
    trainer.step(members, step++);
  }
  if (execution.device.is_cuda()) torch::cuda::synchronize(execution.device.index());
  const double seconds = seconds_since(start);
  return throughput(model.config.model, model.labels.size(), documents, seconds, true);
}

namespace {

// The Predictor's one-off work, untimed: on the CPU its vocabulary table; on a
// GPU the copy of the network there, cuDNN's plans and the allocator's first
// blocks, through one batch.
void warm_up(const Predictor& predictor, const std::vector<EncodedDocument>& documents, size_t batch_size,
             const torch::Device& device) {
  if (device.is_cpu()) {
    predictor.precompute();
    return;
  }
  const auto warm = static_cast<std::ptrdiff_t>(std::min(documents.size(), batch_size));
  predictor.predict_encoded({documents.begin(), documents.begin() + warm});
}

}  // namespace

Throughput measure_inference(const Model& model, const std::vector<EncodedDocument>& documents, int batch_size,
                             int threads, Engine engine, const torch::Device& device) {
  double seconds = 0;
  if (engine == Engine::kReference && device.is_cpu()) {
    torch::set_num_threads(threads);
    c10::InferenceMode inference;
    HierarchicalAttentionNetwork network = model.network;
    network->eval();
    const auto start = Clock::now();
    for (const auto& indices : bucket_batches(documents, batch_size, nullptr)) {
      std::vector<const EncodedDocument*> members;
      members.reserve(indices.size());
      for (int64_t i : indices) members.push_back(&documents[static_cast<size_t>(i)]);
      auto probabilities = torch::softmax(network->forward(make_batch(members)).logits, 1);
      (void)probabilities.data_ptr<float>();
    }
    seconds = seconds_since(start);
  } else {
    // The fused kernels on the CPU; on a GPU the Predictor's copy of the modules there.
    torch::set_num_threads(1);
    Predictor predictor(model, batch_size, threads, device);
    warm_up(predictor, documents, static_cast<size_t>(batch_size), device);
    const auto start = Clock::now();
    predictor.predict_encoded(documents);
    seconds = seconds_since(start);
  }
  return throughput(model.config.model, model.labels.size(), documents, seconds, false);
}

Latency measure_latency(const Model& model, const std::vector<EncodedDocument>& documents, Engine engine,
                        const torch::Device& device) {
  torch::set_num_threads(1);
  std::vector<double> ms;
  if (engine == Engine::kReference && device.is_cpu()) {
    c10::InferenceMode inference;
    HierarchicalAttentionNetwork network = model.network;
    network->eval();
    for (const auto& d : documents) {
      const auto start = Clock::now();
      auto probabilities = torch::softmax(network->forward(make_batch({&d})).logits, 1);
      (void)probabilities.data_ptr<float>();
      ms.push_back(1e3 * seconds_since(start));
    }
  } else {
    Predictor predictor(model, 1, 1, device);
    warm_up(predictor, documents, 1, device);
    for (const auto& d : documents) {
      const auto start = Clock::now();
      predictor.predict_encoded({d});
      ms.push_back(1e3 * seconds_since(start));
    }
  }
  Latency l;
  l.documents = static_cast<int64_t>(ms.size());
  if (ms.empty()) return l;
  std::sort(ms.begin(), ms.end());
  l.median_ms = ms[ms.size() / 2];
  l.p90_ms = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
  return l;
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

nlohmann::json to_json(const Throughput& t) {
  return {{"documents", t.documents},
          {"tokens", t.tokens},
          {"seconds", t.seconds},
          {"docs_per_second", t.docs_per_second},
          {"gflops", t.gflops}};
}

nlohmann::json to_json(const Latency& l) {
  return {{"documents", l.documents}, {"median_ms", l.median_ms}, {"p90_ms", l.p90_ms}};
}

namespace {

// A real corpus read, tokenized and encoded, with the time each part took.
struct PreparedCorpus {
  std::vector<EncodedDocument> documents;
  Model model;
  nlohmann::json report;
};

PreparedCorpus prepare_corpus(const BenchOptions& options) {
  PreparedCorpus prepared;
  CorpusOptions corpus_options;
  corpus_options.format = options.corpus_format;
  corpus_options.threads = options.threads;
  auto start = Clock::now();
  Corpus corpus = read_corpus(options.corpus, corpus_options);
  if (options.corpus_limit > 0 && static_cast<int64_t>(corpus.documents.size()) > options.corpus_limit) {
    // An even spread over the corpus, so every label stays represented.
    std::vector<Document> kept;
    const auto n = static_cast<double>(corpus.documents.size());
    for (int64_t i = 0; i < options.corpus_limit; ++i) {
      kept.push_back(std::move(corpus.documents[static_cast<size_t>(static_cast<double>(i) * n /
                                                                    static_cast<double>(options.corpus_limit))]));
    }
    corpus.documents = std::move(kept);
  }
  const double read_seconds = seconds_since(start);
  int64_t bytes = 0;
  for (const auto& d : corpus.documents) bytes += static_cast<int64_t>(d.text.size());

  // Tokenized and interned as han train does it.
  start = Clock::now();
  FormTable table;
  TextReport text;
  std::vector<InternedDocument> interned =
      intern_documents(corpus.documents, options.config.text, options.threads, table, text);
  const double tokenize_seconds = seconds_since(start);

  std::vector<std::string> label_names;
  for (const auto& d : corpus.documents) label_names.push_back(d.label);
  Vocabulary vocabulary =
      Vocabulary::build(count_forms(table, interned), options.config.train.min_count, options.config.train.max_vocab);
  LabelSet labels = LabelSet::build(label_names);
  const std::vector<int32_t> form_to_word = vocabulary_ids(table, vocabulary);
  for (size_t i = 0; i < interned.size(); ++i) {
    if (interned[i].sentence_lengths.empty()) continue;
    interned[i].label = labels.id(corpus.documents[i].label);
    prepared.documents.push_back(encode_interned(interned[i], form_to_word));
  }
  const double mb = static_cast<double>(bytes) / 1e6;
  prepared.report = {{"path", options.corpus},
                     {"documents", prepared.documents.size()},
                     {"text_mb", mb},
                     {"read_seconds", read_seconds},
                     {"read_mb_per_second", mb / std::max(1e-9, read_seconds)},
                     {"tokenize_seconds", tokenize_seconds},
                     {"read_and_tokenize_mb_per_second_per_thread",
                      mb / std::max(1e-9, read_seconds + tokenize_seconds) / options.threads},
                     {"tokenize_mb_per_second", mb / std::max(1e-9, tokenize_seconds)},
                     {"tokenize_mb_per_second_per_thread", mb / std::max(1e-9, tokenize_seconds) / options.threads},
                     {"vocabulary", vocabulary.size()},
                     {"labels", labels.size()}};
  prepared.model = make_model(options.config, std::move(vocabulary), std::move(labels));
  return prepared;
}

bool wants(const BenchOptions& options, const std::string& phase) {
  return std::find(options.phases.begin(), options.phases.end(), phase) != options.phases.end();
}

}  // namespace

nlohmann::json run_benchmark(const BenchOptions& options, const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& text) {
    if (progress) progress(text);
  };
  for (const auto& phase : options.phases) {
    if (phase != "matmul" && phase != "inference" && phase != "latency" && phase != "training") {
      throw UsageError(
          fmt::format("unknown benchmark phase '{}' (expected matmul, inference, latency, training)", phase));
    }
  }
  validate(options.config);
  if (options.mixed_precision && !options.device.is_cuda()) {
    throw UsageError(
        fmt::format("--amp needs a CUDA device; this benchmark runs on the {} (--device cuda)", options.device.str()));
  }
  // The fused kernels are CPU code: on a GPU the LibTorch modules run, as in training.
  const Engine engine = options.device.is_cpu() ? options.config.train.engine : Engine::kReference;
  torch::manual_seed(options.config.train.seed);
  nlohmann::json result = {{"engine", engine_name(engine)},
                           {"device", options.device.str()},
                           {"amp", options.mixed_precision},
                           {"threads", options.threads},
                           {"config", to_json(options.config)},
                           {"torch", TORCH_VERSION},
                           {"blas", blas_description()},
                           {"products", engine == Engine::kFused ? matmul_backend() : std::string("LibTorch")}};

  std::vector<EncodedDocument> train_documents, inference_documents;
  Model model;
  if (!options.corpus.empty()) {
    say(fmt::format("reading and tokenizing {}", options.corpus));
    PreparedCorpus prepared = prepare_corpus(options);
    result["corpus"] = prepared.report;
    train_documents = prepared.documents;
    inference_documents = std::move(prepared.documents);
    model = std::move(prepared.model);
  } else {
    SyntheticSpec spec = options.synthetic;
    train_documents = make_synthetic_documents(spec);
    spec.documents = options.inference_documents;
    spec.seed += 1;
    inference_documents = make_synthetic_documents(spec);
    model = make_bench_model(options.config, spec.vocabulary, spec.labels);
    result["synthetic"] = {{"documents", options.synthetic.documents},
                           {"inference_documents", options.inference_documents},
                           {"vocabulary", spec.vocabulary},
                           {"labels", spec.labels},
                           {"sentences", {spec.min_sentences, spec.max_sentences}},
                           {"words", {spec.min_words, spec.max_words}},
                           {"zipf", spec.zipf},
                           {"seed", options.synthetic.seed}};
  }
  const int64_t tokens = count_tokens(train_documents);
  result["tokens_per_document"] =
      static_cast<double>(tokens) / static_cast<double>(std::max<size_t>(1, train_documents.size()));
  result["parameters"] = count_parameters(*model.network);

  if (wants(options, "matmul") && options.device.is_cpu()) {
    say("matrix-product rates");
    nlohmann::json rates = nlohmann::json::array();
    for (const auto& r : measure_matmul_rates(options.threads, 4096)) {
      rates.push_back({{"shape", r.shape}, {"role", r.role}, {"gflops", r.gflops}});
    }
    result["matmul"] = rates;
  }
  // Inference first: its memory peak is then read before training's.
  if (wants(options, "inference")) {
    say(fmt::format("batch inference on {} documents", inference_documents.size()));
    result["inference"] = to_json(measure_inference(model, inference_documents, options.config.train.batch_size,
                                                    options.threads, engine, options.device));
    result["peak_rss_mib_inference"] = peak_rss_mib();
  }
  if (wants(options, "latency")) {
    const size_t n = std::min(inference_documents.size(), static_cast<size_t>(std::max(1, options.latency_documents)));
    say(fmt::format("one-document latency over {} documents", n));
    const std::vector<EncodedDocument> sample(inference_documents.begin(),
                                              inference_documents.begin() + static_cast<std::ptrdiff_t>(n));
    result["latency"] = to_json(measure_latency(model, sample, engine, options.device));
  }
  if (wants(options, "training")) {
    if (!options.device.is_cpu()) model.network->to(options.device);
    const ExecutionOptions execution{options.device, nullptr, options.mixed_precision};
    nlohmann::json runs = nlohmann::json::array();
    std::vector<double> rates;
    for (int run = 0; run < std::max(1, options.runs); ++run) {
      say(fmt::format("training epoch {} of {} on {} documents", run + 1, options.runs, train_documents.size()));
      Throughput t = measure_training(model, train_documents, options.config, options.threads,
                                      options.config.train.seed + static_cast<uint64_t>(run), execution);
      runs.push_back(to_json(t));
      rates.push_back(t.docs_per_second);
    }
    std::sort(rates.begin(), rates.end());
    result["training"] = {{"runs", runs}, {"median_docs_per_second", rates[rates.size() / 2]}};
  }
  result["peak_rss_mib"] = peak_rss_mib();
  return result;
}

std::string format_benchmark(const nlohmann::json& r) {
  std::string out;
  const auto& model = r["config"]["model"];
  const std::string device = r.value("device", std::string("cpu"));
  const std::string where = device == "cpu" ? fmt::format("{} threads", r["threads"].get<int>())
                                            : device + (r.value("amp", false) ? ", mixed precision" : "");
  const std::string blas = r.value("blas", std::string());
  const std::string products = r.value("products", std::string("LibTorch"));
  out += fmt::format(
      "engine {}, {}, LibTorch {}{}, products on {}; embedding {}, GRU {}+{}, attention {}+{}: {} "
      "parameters\n",
      r["engine"].get<std::string>(), where, r["torch"].get<std::string>(),
      blas.empty() ? std::string() : " on " + blas, products, model["embedding_dim"].get<int>(),
      model["word_hidden"].get<int>(), model["sentence_hidden"].get<int>(), model["word_attention"].get<int>(),
      model["sentence_attention"].get<int>(), r["parameters"].get<int64_t>());
  if (r.contains("corpus")) {
    const auto& c = r["corpus"];
    out +=
        fmt::format("corpus {}: {} documents, {:.1f} MB of text, {:.1f} tokens each\n", c["path"].get<std::string>(),
                    c["documents"].get<int64_t>(), c["text_mb"].get<double>(), r["tokens_per_document"].get<double>());
    out += fmt::format("  reading        {:8.1f} MB/s\n", c["read_mb_per_second"].get<double>());
    out += fmt::format("  tokenizing     {:8.1f} MB/s ({:.1f} MB/s per thread)\n",
                       c["tokenize_mb_per_second"].get<double>(), c["tokenize_mb_per_second_per_thread"].get<double>());
    out += fmt::format("  both           {:8.1f} MB/s per thread\n",
                       c["read_and_tokenize_mb_per_second_per_thread"].get<double>());
  } else {
    const auto& s = r["synthetic"];
    out += fmt::format(
        "synthetic documents: {}-{} sentences of {}-{} words ({:.1f} tokens each), Zipf {} over {} words\n",
        s["sentences"][0].get<int>(), s["sentences"][1].get<int>(), s["words"][0].get<int>(), s["words"][1].get<int>(),
        r["tokens_per_document"].get<double>(), s["zipf"].get<double>(), s["vocabulary"].get<int>());
  }
  if (r.contains("matmul")) {
    out += "matrix products (each thread its own, at once):\n";
    for (const auto& m : r["matmul"]) {
      out += fmt::format("  {:>16}  {:7.1f} GFLOP/s  {}\n", m["shape"].get<std::string>(), m["gflops"].get<double>(),
                         m["role"].get<std::string>());
    }
  }
  if (r.contains("training")) {
    const auto& t = r["training"];
    const auto& last = t["runs"].back();
    out += fmt::format("training        {:8.1f} docs/s (median of {}), {:.1f} GFLOP/s of model work\n",
                       t["median_docs_per_second"].get<double>(), t["runs"].size(), last["gflops"].get<double>());
  }
  if (r.contains("inference")) {
    const auto& i = r["inference"];
    out += fmt::format("inference       {:8.1f} docs/s, {:.1f} GFLOP/s of model work\n",
                       i["docs_per_second"].get<double>(), i["gflops"].get<double>());
  }
  if (r.contains("latency")) {
    const auto& l = r["latency"];
    out += fmt::format("latency         {:8.3f} ms median, {:.3f} ms p90 (one document, one thread)\n",
                       l["median_ms"].get<double>(), l["p90_ms"].get<double>());
  }
  if (r.contains("peak_rss_mib_inference")) {
    out += fmt::format("peak RSS        {:8.0f} MiB after inference\n", r["peak_rss_mib_inference"].get<double>());
  }
  out += fmt::format("peak RSS        {:8.0f} MiB in all\n", r["peak_rss_mib"].get<double>());
  return out;
}

}  // namespace han
