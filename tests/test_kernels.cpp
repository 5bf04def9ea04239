// The fused engine's building blocks alone (kernels/layers.h): each backward
// pass against central finite differences of its own forward pass, on packed
// layouts whose rows end at different steps.
#include "torch_catch.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>

#include "han/kernels/fused.h"
#include "han/kernels/layers.h"

using namespace han;
using namespace han::kernels;

namespace {

std::vector<float> random_values(size_t n, std::mt19937_64& rng, float scale = 0.5f) {
  std::uniform_real_distribution<float> uniform(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = uniform(rng);
  return v;
}

double dot(const std::vector<float>& a, const float* b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

// Checks analytic[i] against (loss(x_i + eps) - loss(x_i - eps)) / 2eps for
// every element of `values`. Float kernels: eps 1e-2 keeps the rounding of
// the loss small against the change it measures.
void check_gradient(const char* name, std::vector<float>& values, const std::vector<float>& analytic,
                    const std::function<double()>& loss) {
  REQUIRE(values.size() == analytic.size());
  constexpr float eps = 1e-2f;
  double worst = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const float kept = values[i];
    values[i] = kept + eps;
    const double up = loss();
    values[i] = kept - eps;
    const double down = loss();
    values[i] = kept;
    const double numeric = (up - down) / (2.0 * eps);
    const double error = std::abs(numeric - analytic[i]) / std::max(1.0, std::abs(numeric));
    worst = std::max(worst, error);
  }
  INFO(name << ": worst error " << worst);
  CHECK(worst < 2e-3);
}

// One GRU direction over `layout` with input projections from `table`
// (through `slot` when not empty), scored by sum(R * outputs).
struct GruCase {
  PackedLayout layout;
  int64_t h = 3;
  int direction = 0;
  std::vector<int32_t> slot;  // empty: each token its own table row
  std::vector<float> table, weight_hh, bias_hh, readout;

  int64_t table_rows() const {
    return slot.empty() ? layout.tokens() : 1 + *std::max_element(slot.begin(), slot.end());
  }
  GruDirection view(const float* t) const {
    return {layout, t, 6 * h, slot.empty() ? nullptr : slot.data(), direction, weight_hh.data(), bias_hh.data(), h};
  }
  // The readout in reading order, as gru_backward's d_outputs [tokens, 2h].
  std::vector<float> d_outputs() const {
    std::vector<float> d(static_cast<size_t>(layout.tokens() * 2 * h), 0.0f);
    for (int64_t j = 0; j < layout.tokens(); ++j) {
      const int64_t reading = direction ? layout.mirror()[static_cast<size_t>(j)] : j;
      for (int64_t k = 0; k < h; ++k)
        d[static_cast<size_t>(reading * 2 * h + direction * h + k)] = readout[static_cast<size_t>(j * h + k)];
    }
    return d;
  }
  std::vector<float> states(std::vector<float>* cache = nullptr) const {
    std::vector<float> out(static_cast<size_t>(layout.tokens() * h));
    if (cache) cache->resize(static_cast<size_t>(layout.tokens() * 4 * h));
    Buffer gate_hidden, zeros;
    gru_forward(view(table.data()), out.data(), cache ? cache->data() : nullptr, gate_hidden, zeros);
    return out;
  }
  double loss() const { return dot(readout, states().data()); }
};

GruCase make_gru_case(int direction, bool shared_rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  GruCase c;
  c.layout = PackedLayout({5, 3, 3, 1});
  c.direction = direction;
  if (shared_rows) {
    // Tokens share input rows, as repeated words share one projection.
    for (int64_t j = 0; j < c.layout.tokens(); ++j) c.slot.push_back(static_cast<int32_t>(rng() % 4));
    c.slot[0] = 3;
  }
  c.table = random_values(static_cast<size_t>(c.table_rows() * 6 * c.h), rng, 1.0f);
  c.weight_hh = random_values(static_cast<size_t>(3 * c.h * c.h), rng);
  c.bias_hh = random_values(static_cast<size_t>(3 * c.h), rng);
  c.readout = random_values(static_cast<size_t>(c.layout.tokens() * c.h), rng, 1.0f);
  return c;
}

}  // namespace

TEST_CASE("matmul computes every transposition, and accumulates when asked") {
  std::mt19937_64 rng(3);
  const int64_t m = 3, k = 4, n = 2;
  const std::vector<float> a = random_values(static_cast<size_t>(m * k), rng);  // [m, k]
  const std::vector<float> b = random_values(static_cast<size_t>(k * n), rng);  // [k, n]
  std::vector<float> at(a.size()), bt(b.size());                                // [k, m], [n, k]
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j) at[static_cast<size_t>(j * m + i)] = a[static_cast<size_t>(i * k + j)];
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) bt[static_cast<size_t>(j * k + i)] = b[static_cast<size_t>(i * n + j)];
  std::vector<float> expected(static_cast<size_t>(m * n), 0.0f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t l = 0; l < k; ++l)
        expected[static_cast<size_t>(i * n + j)] +=
            a[static_cast<size_t>(i * k + l)] * b[static_cast<size_t>(l * n + j)];
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      std::vector<float> c(static_cast<size_t>(m * n), 1.0f);
      matmul(ta ? at.data() : a.data(), ta, tb ? bt.data() : b.data(), tb, c.data(), m, k, n, false);
      for (size_t i = 0; i < c.size(); ++i) CHECK(c[i] == Approx(expected[i]).margin(1e-6));
      matmul(ta ? at.data() : a.data(), ta, tb ? bt.data() : b.data(), tb, c.data(), m, k, n, true);
      for (size_t i = 0; i < c.size(); ++i) CHECK(c[i] == Approx(2 * expected[i]).margin(1e-6));
    }
  }
  // An empty inner dimension gives zeros, not what the buffer held.
  std::vector<float> c(static_cast<size_t>(m * n), 5.0f);
  matmul(a.data(), false, b.data(), false, c.data(), m, 0, n, false);
  for (float x : c) CHECK(x == 0.0f);
}

TEST_CASE("matmul agrees with LibTorch on the engine's shapes, whichever backend runs it") {
  // Sizes past the kernels' register blocks, with ragged tails: a recurrent
  // step, an attention projection, a weight gradient (transposed left).
  std::mt19937_64 rng(5);
  for (const auto& [m, k, n, ta] :
       {std::tuple{67, 50, 150, false}, std::tuple{131, 100, 100, false}, std::tuple{150, 203, 50, true}}) {
    const std::vector<float> a = random_values(static_cast<size_t>(m * k), rng);
    const std::vector<float> b = random_values(static_cast<size_t>(k * n), rng);
    std::vector<float> c(static_cast<size_t>(m * n), 0.0f);
    matmul(a.data(), ta, b.data(), false, c.data(), m, k, n, false);
    const auto options = torch::TensorOptions().dtype(torch::kFloat32);
    torch::Tensor left = torch::from_blob(const_cast<float*>(a.data()), {ta ? k : m, ta ? m : k}, options);
    if (ta) left = left.t();
    const torch::Tensor right = torch::from_blob(const_cast<float*>(b.data()), {k, n}, options);
    const torch::Tensor expected = torch::mm(left.to(torch::kFloat64), right.to(torch::kFloat64));
    const torch::Tensor got = torch::from_blob(c.data(), {m, n}, options).to(torch::kFloat64);
    CHECK((got - expected).abs().max().item<double>() < 1e-4);
  }
}

TEST_CASE("matmul runs on oneDNN where the process has it, and leaves each thread's OpenMP team as it was") {
  const char* choice = std::getenv("HAN_MATMUL");
  if (choice && std::string(choice) == "libtorch") {
    CHECK(matmul_backend() == "LibTorch");  // ctest runs this file once so, for the fallback's sake
    return;
  }
#if defined(__x86_64__)
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  const bool avx512 = false;
#endif
  if (avx512 && dlsym(RTLD_DEFAULT, "dnnl_sgemm") && dlsym(RTLD_DEFAULT, "omp_set_num_threads")) {
    CHECK(matmul_backend() == "oneDNN sgemm");  // Debian's LibTorch on an AVX-512 machine
  }
  if (matmul_backend() != "oneDNN sgemm") return;
  using SetThreads = void (*)(int);
  using GetThreads = int (*)();
  const auto set_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  const auto get_threads = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  REQUIRE((set_threads && get_threads));
  std::vector<float> a(6, 1.0f), b(6, 2.0f), c(4, 0.0f);
  int team_after = 0;
  std::thread worker([&] {
    set_threads(3);
    matmul(a.data(), false, b.data(), false, c.data(), 2, 3, 2, false);
    team_after = get_threads();
  });
  worker.join();
  CHECK(team_after == 3);
  for (float x : c) CHECK(x == 6.0f);
}

TEST_CASE("gru_backward is the gradient of gru_forward") {
  for (const int direction : {0, 1}) {
    for (const bool shared_rows : {false, true}) {
      DYNAMIC_SECTION((direction ? "backward" : "forward") << " direction" << (shared_rows ? ", shared rows" : "")) {
        GruCase c = make_gru_case(direction, shared_rows, 11 + static_cast<uint64_t>(direction));
        std::vector<float> cache;
        const std::vector<float> states = c.states(&cache);
        std::vector<float> d_table(c.table.size(), 0.0f), d_weight(c.weight_hh.size(), 0.0f),
            d_bias(c.bias_hh.size(), 0.0f);
        GruScratch scratch;
        const std::vector<float> d_outputs = c.d_outputs();
        gru_backward(c.view(nullptr), states.data(), cache.data(), d_outputs.data(),
                     {d_table.data(), d_weight.data(), d_bias.data()}, scratch);
        // Only this direction's half of each table row feeds it.
        for (int64_t row = 0; row < c.table_rows(); ++row)
          for (int64_t k = 0; k < 3 * c.h; ++k)
            CHECK(d_table[static_cast<size_t>(row * 6 * c.h + (1 - direction) * 3 * c.h + k)] == 0.0f);
        check_gradient("table", c.table, d_table, [&] { return c.loss(); });
        check_gradient("weight_hh", c.weight_hh, d_weight, [&] { return c.loss(); });
        check_gradient("bias_hh", c.bias_hh, d_bias, [&] { return c.loss(); });
      }
    }
  }
}

TEST_CASE("a row's GRU states do not depend on the other rows of the layout") {
  // Packing is not padding: the 3-token row alone gives the states it gives beside longer rows.
  GruCase together = make_gru_case(1, false, 5);
  const std::vector<float> all = together.states();
  GruCase alone = together;
  alone.layout = PackedLayout({3});
  alone.table.clear();
  for (int64_t t = 0; t < 3; ++t) {  // row 1 of {5, 3, 3, 1} is token index(t, 1)
    const auto* row = together.table.data() + together.layout.index(t, 1) * 6 * together.h;
    alone.table.insert(alone.table.end(), row, row + 6 * together.h);
  }
  const std::vector<float> own = alone.states();
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t k = 0; k < together.h; ++k)
      CHECK(own[static_cast<size_t>(t * together.h + k)] ==
            Approx(all[static_cast<size_t>(together.layout.index(t, 1) * together.h + k)]).margin(1e-6));
}

TEST_CASE("attention_backward is the gradient of attention_forward, and the weights sum to one") {
  std::mt19937_64 rng(21);
  const PackedLayout layout({4, 2, 1});
  const int64_t in = 4, a = 5, tokens = layout.tokens();
  std::vector<float> states = random_values(static_cast<size_t>(tokens * in), rng, 1.0f);
  std::vector<float> weight = random_values(static_cast<size_t>(a * in), rng);
  std::vector<float> bias = random_values(static_cast<size_t>(a), rng);
  std::vector<float> context = random_values(static_cast<size_t>(a), rng, 1.0f);
  const std::vector<float> readout = random_values(static_cast<size_t>(layout.rows() * in), rng, 1.0f);

  std::vector<float> hidden(static_cast<size_t>(tokens * a)), weights(static_cast<size_t>(tokens)),
      pooled(static_cast<size_t>(layout.rows() * in));
  auto forward = [&] {
    Buffer row_max, row_sum;
    attention_forward(layout, states.data(), {weight.data(), bias.data(), context.data(), in, a}, hidden.data(),
                      weights.data(), pooled.data(), row_max, row_sum);
    return dot(readout, pooled.data());
  };
  forward();
  for (int64_t r = 0; r < layout.rows(); ++r) {
    double sum = 0;
    for (int64_t t = 0; t < layout.length(r); ++t) sum += weights[static_cast<size_t>(layout.index(t, r))];
    CHECK(sum == Approx(1.0).margin(1e-6));
  }
  CHECK(weights[static_cast<size_t>(layout.index(0, 2))] == Approx(1.0f));  // a one-token row

  std::vector<float> d_states(states.size()), d_weight(weight.size(), 0.0f), d_bias(bias.size(), 0.0f),
      d_context(context.size(), 0.0f);
  Buffer d_weights, row_sum;
  attention_backward(layout, states.data(), {weight.data(), bias.data(), context.data(), in, a}, hidden.data(),
                     weights.data(), readout.data(), d_states.data(),
                     {d_weight.data(), d_bias.data(), d_context.data()}, d_weights, row_sum);
  check_gradient("states", states, d_states, forward);
  check_gradient("weight", weight, d_weight, forward);
  check_gradient("bias", bias, d_bias, forward);
  check_gradient("context", context, d_context, forward);
}
