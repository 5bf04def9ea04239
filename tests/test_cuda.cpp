// The GPU path against the CPU: one training step, mixed precision,
// prediction and attention, and han bench on the device. Without a CUDA
// device it exits 77 (ctest: skipped), unless HAN_REQUIRE_CUDA=1 (bench/gpu.sh
// sets it), where a missing device fails. HAN_TEST_DEVICE=cpu runs the same
// checks with the CPU in the GPU's place (bench/gpu.sh --dry-run), mixed
// precision left out: it checks the tests themselves, not a GPU.
#define CATCH_CONFIG_RUNNER
#include "torch_catch.h"

#include "compare_explanations.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "han/bench/bench.h"
#include "han/data/synthetic.h"
#include "han/infer/inference.h"
#include "han/train/train.h"

using namespace han;

namespace {

torch::Device test_device() {
  const char* name = std::getenv("HAN_TEST_DEVICE");
  return torch::Device(name && *name ? name : "cuda:0");
}
const torch::Device kGpu = test_device();
const bool kMixedPrecision = kGpu.is_cuda();  // float16 autocast is a CUDA feature

Config small_config() {
  Config c;
  c.model.embedding_dim = 32;
  c.model.word_hidden = 16;
  c.model.sentence_hidden = 16;
  c.model.word_attention = 16;
  c.model.sentence_attention = 16;
  c.train.engine = Engine::kReference;
  c.train.optimizer = "sgd";
  c.train.epochs = 2;
  c.train.valid_fraction = 0;
  c.train.threads = 1;
  c.train.seed = 5;
  return c;
}

// A model trained briefly on the CPU, and its documents encoded.
struct Fixture {
  Config config = small_config();
  Corpus corpus;
  Model model;
  std::vector<EncodedDocument> encoded;
  std::vector<const EncodedDocument*> batch;

  Fixture() {
    corpus.path = "synthetic";
    for (const auto& d : make_synthetic_corpus(48, 11)) corpus.documents.push_back(d.document);
    model = train_model(corpus, nullptr, config);
    Tokenizer tokenizer(model.config.text);
    for (const Document& d : corpus.documents) {
      encoded.push_back(encode_document(tokenizer.tokenize(d.text), model.vocabulary, model.labels.id(d.label)));
    }
    for (const auto& d : encoded) batch.push_back(&d);
  }

  // One step from the trained weights on `device`: the loss and every gradient, on the CPU.
  std::pair<double, std::vector<torch::Tensor>> step(const torch::Device& device, bool mixed_precision) const {
    HierarchicalAttentionNetwork network(model.config.model, model.vocabulary.size(), model.labels.size());
    {
      torch::NoGradGuard no_grad;
      auto target = network->parameters();
      const auto source = model.network->parameters();
      for (size_t i = 0; i < target.size(); ++i) target[i].copy_(source[i]);
    }
    network->to(device);
    BatchTrainer trainer(network, config, 1, {device, nullptr, mixed_precision});
    // A mixed-precision step whose scaled gradients overflow is skipped and the
    // scale halved, the weights unchanged: step again until one is applied.
    BatchTrainer::Step step = trainer.step(batch, 0);
    for (int tries = 1; !step.applied && mixed_precision && tries < 20; ++tries) step = trainer.step(batch, tries);
    const double loss = step.loss_sum;
    std::vector<torch::Tensor> gradients;
    for (const auto& p : trainer.parameters()) gradients.push_back(p.grad().to(torch::kCPU).clone());
    return {loss, gradients};
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

double largest_difference(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST_CASE("one training step on the GPU gives the CPU's loss and gradients") {
  const Fixture& f = fixture();
  const auto [cpu_loss, cpu] = f.step(torch::kCPU, false);
  const auto [gpu_loss, gpu] = f.step(kGpu, false);
  CHECK(gpu_loss == Approx(cpu_loss).epsilon(1e-4));
  REQUIRE(cpu.size() == gpu.size());
  for (size_t k = 0; k < cpu.size(); ++k) {
    INFO("parameter " << k);
    CHECK(largest_difference(gpu[k], cpu[k]) <= 1e-5 + 1e-3 * cpu[k].abs().max().item<double>());
  }
}

TEST_CASE("a mixed-precision step on the GPU is finite and near the float32 one") {
  const Fixture& f = fixture();
  const auto [full_loss, full] = f.step(kGpu, false);
  const auto [half_loss, half] = f.step(kGpu, kMixedPrecision);
  CHECK(std::isfinite(half_loss));
  CHECK(half_loss == Approx(full_loss).epsilon(2e-2));
  REQUIRE(full.size() == half.size());
  for (size_t k = 0; k < full.size(); ++k) {
    INFO("parameter " << k);
    CHECK(torch::isfinite(half[k]).all().item<bool>());
    CHECK(largest_difference(half[k], full[k]) <= 1e-3 + 5e-2 * full[k].abs().max().item<double>());
  }
}

TEST_CASE("prediction and attention on the GPU are the CPU's") {
  const Fixture& f = fixture();
  const Predictor cpu(f.model, 16, 1);
  const Predictor gpu(f.model, 16, 1, kGpu);
  const auto a = cpu.explain(f.corpus.documents);
  const auto b = gpu.explain(f.corpus.documents);
  const double worst = largest_explanation_difference(a, b);
  INFO("largest difference " << worst);
  CHECK(worst < 1e-4);
}

TEST_CASE("han bench trains and predicts on the GPU with the LibTorch modules") {
  BenchOptions options;
  options.config = small_config();
  options.config.train.engine = Engine::kFused;  // asked for; the GPU runs the reference engine
  options.synthetic.documents = 128;
  options.inference_documents = 128;
  options.latency_documents = 8;
  options.phases = {"matmul", "inference", "latency", "training"};
  options.device = kGpu;
  options.mixed_precision = kMixedPrecision;
  const nlohmann::json result = run_benchmark(options);
  CHECK(result["engine"] == (kGpu.is_cuda() ? "reference" : "fused"));
  CHECK(result["device"] == kGpu.str());
  CHECK(result.contains("matmul") == kGpu.is_cpu());  // a CPU measurement: not taken on a GPU run
  CHECK(result["training"]["median_docs_per_second"].get<double>() > 0);
  CHECK(result["inference"]["docs_per_second"].get<double>() > 0);
  CHECK(result["latency"]["documents"] == 8);
}

int main(int argc, char** argv) {
  // cuDNN's GRUs and cuBLAS may use TF32 (10-bit mantissas) on Ampere and
  // later GPUs: compare full float32 with the CPU.
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  if (kGpu.is_cuda() && !torch::cuda::is_available()) {
    const char* required = std::getenv("HAN_REQUIRE_CUDA");
    if (required && std::strcmp(required, "1") == 0) {
      std::fprintf(stderr, "test_cuda: HAN_REQUIRE_CUDA=1 but LibTorch sees no CUDA device\n");
      return 1;
    }
    std::fprintf(stderr,
                 "test_cuda: skipped: LibTorch sees no CUDA device (HAN_REQUIRE_CUDA=1 makes that a failure)\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
