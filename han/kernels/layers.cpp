#include "han/kernels/layers.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include <torch/torch.h>

#include "han/base/vector_math.h"

namespace han::kernels {

namespace {

torch::Tensor matrix(const float* data, int64_t rows, int64_t cols) {
  return torch::from_blob(const_cast<float*>(data), {rows, cols}, torch::TensorOptions().dtype(torch::kFloat32));
}

// y += alpha x
HAN_VECTOR_CLONES
void axpy(int64_t n, float alpha, const float* x, float* y) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) y[k] += alpha * x[k];
}

// One row of a GRU step: the gates of h units from the input projection x
// (3h, bias included), the recurrent product gh (3h, bias not included) and
// the previous state hp; writes the new state and, when cache is not null,
// what the backward pass needs: r, z, n and W_hn h + b_hn.
HAN_VECTOR_CLONES
void gru_gates(const float* x, const float* gh, const float* b, const float* hp, float* out, float* cache, int64_t h) {
  if (cache) {
#pragma omp simd
    for (int64_t k = 0; k < h; ++k) {
      const float reset = fast_sigmoid(x[k] + gh[k] + b[k]);
      const float update = fast_sigmoid(x[h + k] + gh[h + k] + b[h + k]);
      const float hidden_n = gh[2 * h + k] + b[2 * h + k];
      const float candidate = fast_tanh(x[2 * h + k] + reset * hidden_n);
      out[k] = (1.0f - update) * candidate + update * hp[k];
      cache[k] = reset;
      cache[h + k] = update;
      cache[2 * h + k] = candidate;
      cache[3 * h + k] = hidden_n;
    }
  } else {
#pragma omp simd
    for (int64_t k = 0; k < h; ++k) {
      const float reset = fast_sigmoid(x[k] + gh[k] + b[k]);
      const float update = fast_sigmoid(x[h + k] + gh[h + k] + b[h + k]);
      const float candidate = fast_tanh(x[2 * h + k] + reset * (gh[2 * h + k] + b[2 * h + k]));
      out[k] = (1.0f - update) * candidate + update * hp[k];
    }
  }
}

// The same row backwards: from dL/dh (the output's gradient plus what the
// next step carried back), adds the input projection's gradient to dx,
// writes the recurrent product's gradient to dgh and the direct part of
// dL/dh_prev (dh * z) to carry.
HAN_VECTOR_CLONES
void gru_gates_backward(const float* cache, const float* hp, const float* dh_out, float* carry, float* dx, float* dgh,
                        int64_t h) {
#pragma omp simd
  for (int64_t k = 0; k < h; ++k) {
    const float dh = dh_out[k] + carry[k];
    const float reset = cache[k], update = cache[h + k], candidate = cache[2 * h + k], hidden_n = cache[3 * h + k];
    const float d_candidate = dh * (1.0f - update) * (1.0f - candidate * candidate);
    const float d_update = dh * (hp[k] - candidate) * update * (1.0f - update);
    const float d_reset = d_candidate * hidden_n * reset * (1.0f - reset);
    dx[k] += d_reset;
    dx[h + k] += d_update;
    dx[2 * h + k] += d_candidate;
    dgh[k] = d_reset;
    dgh[h + k] = d_update;
    dgh[2 * h + k] = d_candidate * reset;
    carry[k] = dh * update;
  }
}

// u = tanh(u + bias) in place for each row; returns u . context per row in scores.
HAN_VECTOR_CLONES
void attention_scores(float* hidden, const float* bias, const float* context, float* scores, int64_t rows, int64_t a) {
  for (int64_t i = 0; i < rows; ++i) {
    float* u = hidden + i * a;
    float score = 0;
#pragma omp simd reduction(+ : score)
    for (int64_t k = 0; k < a; ++k) {
      u[k] = fast_tanh(u[k] + bias[k]);
      score += u[k] * context[k];
    }
    scores[i] = score;
  }
}

// dx = w * dp; returns dp . x
HAN_VECTOR_CLONES
float scale_and_dot(int64_t n, float w, const float* dp, const float* x, float* dx) {
  float dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int64_t k = 0; k < n; ++k) {
    dx[k] = w * dp[k];
    dot += dp[k] * x[k];
  }
  return dot;
}

// The attention hidden layer's gradient before tanh, and the context's.
HAN_VECTOR_CLONES
void attention_hidden_backward(int64_t a, float d_score, const float* u, const float* context, float* du,
                               float* d_context) {
#pragma omp simd
  for (int64_t k = 0; k < a; ++k) {
    d_context[k] += d_score * u[k];
    du[k] = d_score * context[k] * (1.0f - u[k] * u[k]);
  }
}

}  // namespace

namespace {

// oneDNN's C API, row-major: C = alpha op(A) op(B) + beta C; 0 is success.
using DnnlSgemm = int (*)(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
using SetOmpThreads = void (*)(int);
using GetOmpThreads = int (*)();

struct OneDnn {
  DnnlSgemm sgemm = nullptr;
  SetOmpThreads set_omp_threads = nullptr;
  GetOmpThreads omp_threads = nullptr;
};

// dnnl_version(): the runtime its threads come from (DNNL_RUNTIME_SEQ 1, _OMP 2).
struct DnnlVersion {
  int major, minor, patch;
  const char* hash;
  unsigned cpu_runtime, gpu_runtime;
};
using DnnlVersionOf = const DnnlVersion* (*)();
constexpr unsigned kDnnlSequential = 1, kDnnlOpenMp = 2;

// oneDNN's kernels were measured faster than the BLAS on x86-64 with AVX-512
// only; elsewhere (AVX2, ARM) LibTorch's products stay.
bool has_avx512() {
#if defined(__x86_64__) && defined(__GNUC__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

// Looked up in the process, not linked: LibTorch builds without a shared
// oneDNN keep LibTorch's products. The OpenMP functions are those oneDNN
// itself links (searched from its library), not another runtime's.
const OneDnn& onednn() {
  static const OneDnn found = [] {
    OneDnn f;
    const char* choice = std::getenv("HAN_MATMUL");
    if ((choice && std::string(choice) == "libtorch") || !has_avx512()) return f;
    const auto sgemm = reinterpret_cast<DnnlSgemm>(dlsym(RTLD_DEFAULT, "dnnl_sgemm"));
    const auto version_of = reinterpret_cast<DnnlVersionOf>(dlsym(RTLD_DEFAULT, "dnnl_version"));
    Dl_info where{};
    if (!sgemm || !version_of || !dladdr(reinterpret_cast<void*>(sgemm), &where) || !where.dli_fname) return f;
    const unsigned runtime = version_of()->cpu_runtime;
    if (runtime == kDnnlOpenMp) {
      void* library = dlopen(where.dli_fname, RTLD_NOW | RTLD_NOLOAD);
      if (!library) return f;
      f.set_omp_threads = reinterpret_cast<SetOmpThreads>(dlsym(library, "omp_set_num_threads"));
      f.omp_threads = reinterpret_cast<GetOmpThreads>(dlsym(library, "omp_get_max_threads"));
      if (!f.set_omp_threads || !f.omp_threads) return OneDnn{};
    } else if (runtime != kDnnlSequential) {
      return f;  // TBB or a thread pool: its threads would run beside han's
    }
    f.sgemm = sgemm;
    return f;
  }();
  return found;
}

// oneDNN's sgemm splits a product over the calling thread's OpenMP team;
// han's own threads each run their own products, so the team is one thread
// for the call (OpenMP keeps the setting per thread; it is put back for
// LibTorch's own parallel work on this thread).
bool onednn_matmul(const float* a, bool a_transposed, const float* b, bool b_transposed, float* c, int64_t m, int64_t k,
                   int64_t n, bool accumulate) {
  const OneDnn& dnnl = onednn();
  if (!dnnl.sgemm) return false;
  const int team = dnnl.omp_threads ? dnnl.omp_threads() : 1;
  if (team != 1) dnnl.set_omp_threads(1);
  const int status = dnnl.sgemm(a_transposed ? 'T' : 'N', b_transposed ? 'T' : 'N', m, n, k, 1.0f, a,
                                a_transposed ? m : k, b, b_transposed ? k : n, accumulate ? 1.0f : 0.0f, c, n);
  if (team != 1) dnnl.set_omp_threads(team);
  return status == 0;
}

}  // namespace

void matmul(const float* a, bool a_transposed, const float* b, bool b_transposed, float* c, int64_t m, int64_t k,
            int64_t n, bool accumulate) {
  if (m == 0 || n == 0) return;
  if (k > 0 && onednn_matmul(a, a_transposed, b, b_transposed, c, m, k, n, accumulate)) return;
  auto out = matrix(c, m, n);
  if (k == 0) {
    if (!accumulate) out.zero_();
    return;
  }
  auto left = a_transposed ? matrix(a, k, m).t() : matrix(a, m, k);
  auto right = b_transposed ? matrix(b, n, k).t() : matrix(b, k, n);
  if (accumulate) {
    out.addmm_(left, right);
  } else {
    at::mm_out(out, left, right);
  }
}

HAN_VECTOR_CLONES
void add_column_sums(const float* x, int64_t rows, int64_t cols, float* sums) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = x + i * cols;
#pragma omp simd
    for (int64_t k = 0; k < cols; ++k) sums[k] += row[k];
  }
}

HAN_VECTOR_CLONES
void add_rows_bias(float* x, int64_t rows, int64_t cols, const float* bias) {
  for (int64_t i = 0; i < rows; ++i) {
    float* row = x + i * cols;
#pragma omp simd
    for (int64_t k = 0; k < cols; ++k) row[k] += bias[k];
  }
}

void gru_forward(const GruDirection& g, float* states, float* cache, Buffer& gate_hidden_buffer, Buffer& zeros_buffer) {
  const int64_t h = g.hidden;
  const PackedLayout& layout = g.layout;
  float* gate_hidden = gate_hidden_buffer.get(layout.rows() * 3 * h);  // [rows, 3h]
  const float* zero_state = zeros_buffer.zeros(h);
  for (int64_t t = 0; t < layout.steps(); ++t) {
    const int64_t rows = layout.rows_at(t);
    const int64_t first = layout.offset(t);
    const float* previous = t > 0 ? states + layout.offset(t - 1) * h : nullptr;  // [rows, h]
    if (previous) {
      matmul(previous, false, g.weight_hh, true, gate_hidden, rows, h, 3 * h, false);  // [rows, 3h]
    } else {
      std::fill(gate_hidden, gate_hidden + rows * 3 * h, 0.0f);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t j = first + r;
      const float* x = g.gate_inputs(j);
      const float* gh = gate_hidden + r * 3 * h;
      const float* hp = previous ? previous + r * h : zero_state;
      gru_gates(x, gh, g.bias_hh, hp, states + j * h, cache ? cache + j * 4 * h : nullptr, h);
    }
  }
}

void gru_backward(const GruDirection& g, const float* states, const float* cache, const float* d_outputs,
                  const GruGradients& out, GruScratch& scratch) {
  const int64_t h = g.hidden;
  const PackedLayout& layout = g.layout;
  if (layout.tokens() == 0) return;
  const auto& mirror = layout.mirror();
  float* carry = scratch.carry.get(layout.rows() * h);
  float* d_gate_hidden = scratch.d_gate_hidden.get(layout.rows() * 3 * h);
  const float* zero_state = scratch.zeros.zeros(h);
  for (int64_t t = layout.steps() - 1; t >= 0; --t) {
    const int64_t rows = layout.rows_at(t);
    const int64_t first = layout.offset(t);
    const int64_t rows_next = t + 1 < layout.steps() ? layout.rows_at(t + 1) : 0;
    std::fill(carry + rows_next * h, carry + rows * h, 0.0f);                     // rows whose last step this is
    const float* previous = t > 0 ? states + layout.offset(t - 1) * h : nullptr;  // [rows, h]
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t j = first + r;
      const float* d_out = g.direction ? d_outputs + static_cast<int64_t>(mirror[static_cast<size_t>(j)]) * 2 * h + h
                                       : d_outputs + j * 2 * h;
      gru_gates_backward(cache + j * 4 * h, previous ? previous + r * h : zero_state, d_out, carry + r * h,
                         g.d_gate_inputs(out.d_table, j), d_gate_hidden + r * 3 * h, h);
    }
    add_column_sums(d_gate_hidden, rows, 3 * h, out.d_bias_hh);
    if (previous) {
      matmul(d_gate_hidden, true, previous, false, out.d_weight_hh, 3 * h, rows, h, true);  // [3h, h] += dgh^T h_prev
      matmul(d_gate_hidden, false, g.weight_hh, false, carry, rows, 3 * h, h, true);        // [rows, h] += dgh W_hh
    }
  }
}

void attention_forward(const PackedLayout& layout, const float* states, const AttentionView& att, float* hidden,
                       float* weights, float* pooled, Buffer& row_max_buffer, Buffer& row_sum_buffer) {
  const int64_t tokens = layout.tokens(), rows = layout.rows(), in = att.input, a = att.size;
  matmul(states, false, att.weight, true, hidden, tokens, in, a, false);  // [tokens, a]
  attention_scores(hidden, att.bias, att.context, weights, tokens, a);
  // Softmax per row, each row's own maximum subtracted.
  float* row_max = row_max_buffer.get(rows);
  float* row_sum = row_sum_buffer.zeros(rows);
  std::fill(row_max, row_max + rows, -std::numeric_limits<float>::infinity());
  for (int64_t t = 0; t < layout.steps(); ++t) {
    for (int64_t r = 0; r < layout.rows_at(t); ++r) row_max[r] = std::max(row_max[r], weights[layout.index(t, r)]);
  }
  for (int64_t t = 0; t < layout.steps(); ++t) {
    for (int64_t r = 0; r < layout.rows_at(t); ++r) {
      float& w = weights[layout.index(t, r)];
      w = fast_exp(w - row_max[r]);
      row_sum[r] += w;
    }
  }
  std::fill(pooled, pooled + rows * in, 0.0f);
  for (int64_t t = 0; t < layout.steps(); ++t) {
    for (int64_t r = 0; r < layout.rows_at(t); ++r) {
      const int64_t i = layout.index(t, r);
      float& w = weights[i];
      w /= row_sum[r];
      axpy(in, w, states + i * in, pooled + r * in);
    }
  }
}

void attention_backward(const PackedLayout& layout, const float* states, const AttentionView& att, float* hidden,
                        const float* weights, const float* d_pooled, float* d_states, const AttentionGradients& out,
                        Buffer& d_weights_buffer, Buffer& row_sum_buffer) {
  const int64_t tokens = layout.tokens(), rows = layout.rows(), in = att.input, a = att.size;
  float* d_weights = d_weights_buffer.get(tokens);
  float* row_sum = row_sum_buffer.zeros(rows);
  for (int64_t t = 0; t < layout.steps(); ++t) {
    for (int64_t r = 0; r < layout.rows_at(t); ++r) {
      const int64_t i = layout.index(t, r);
      const float w = weights[i];
      const float dot = scale_and_dot(in, w, d_pooled + r * in, states + i * in, d_states + i * in);
      d_weights[i] = dot;
      row_sum[r] += w * dot;
    }
  }
  float* d_hidden = hidden;  // [tokens, a], before tanh, in place
  for (int64_t t = 0; t < layout.steps(); ++t) {
    for (int64_t r = 0; r < layout.rows_at(t); ++r) {
      const int64_t i = layout.index(t, r);
      const float d_score = weights[i] * (d_weights[i] - row_sum[r]);
      attention_hidden_backward(a, d_score, hidden + i * a, att.context, d_hidden + i * a, out.d_context);
    }
  }
  matmul(d_hidden, true, states, false, out.d_weight, a, tokens, in, true);  // [a, in]
  add_column_sums(d_hidden, tokens, a, out.d_bias);
  matmul(d_hidden, false, att.weight, false, d_states, tokens, a, in, true);  // [tokens, in]
}

void mean_pool_forward(const PackedLayout& layout, const float* states, int64_t in, float* weights, float* pooled) {
  std::fill(pooled, pooled + layout.rows() * in, 0.0f);
  for (int64_t t = 0; t < layout.steps(); ++t) {
    for (int64_t r = 0; r < layout.rows_at(t); ++r) {
      const int64_t i = layout.index(t, r);
      weights[i] = 1.0f / static_cast<float>(layout.length(r));
      axpy(in, weights[i], states + i * in, pooled + r * in);
    }
  }
}

void mean_pool_backward(const PackedLayout& layout, const float* weights, const float* d_pooled, int64_t in,
                        float* d_states) {
  for (int64_t t = 0; t < layout.steps(); ++t) {
    for (int64_t r = 0; r < layout.rows_at(t); ++r) {
      const int64_t i = layout.index(t, r);
      for (int64_t k = 0; k < in; ++k) d_states[i * in + k] = weights[i] * d_pooled[r * in + k];
    }
  }
}

void max_pool_forward(const PackedLayout& layout, const float* states, int64_t in, int32_t* winners, float* weights,
                      float* pooled) {
  // Step 0 holds every row: its tokens start each maximum.
  for (int64_t r = 0; r < layout.rows(); ++r) {
    const int64_t i = layout.index(0, r);
    std::memcpy(pooled + r * in, states + i * in, static_cast<size_t>(in) * sizeof(float));
    std::fill(winners + r * in, winners + (r + 1) * in, static_cast<int32_t>(i));
  }
  for (int64_t t = 1; t < layout.steps(); ++t) {
    for (int64_t r = 0; r < layout.rows_at(t); ++r) {
      const int64_t i = layout.index(t, r);
      for (int64_t k = 0; k < in; ++k) {
        if (states[i * in + k] > pooled[r * in + k]) {
          pooled[r * in + k] = states[i * in + k];
          winners[r * in + k] = static_cast<int32_t>(i);
        }
      }
    }
  }
  std::fill(weights, weights + layout.tokens(), 0.0f);
  const float share = 1.0f / static_cast<float>(in);
  for (int64_t k = 0; k < layout.rows() * in; ++k) weights[winners[k]] += share;
}

void max_pool_backward(const PackedLayout& layout, const int32_t* winners, const float* d_pooled, int64_t in,
                       float* d_states) {
  std::fill(d_states, d_states + layout.tokens() * in, 0.0f);
  for (int64_t r = 0; r < layout.rows(); ++r) {
    for (int64_t k = 0; k < in; ++k)
      d_states[static_cast<int64_t>(winners[r * in + k]) * in + k] = d_pooled[r * in + k];
  }
}

}  // namespace han::kernels

namespace han {

std::string matmul_backend() { return kernels::onednn().sgemm ? "oneDNN sgemm" : "LibTorch"; }

void matrix_product(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n) {
  kernels::matmul(a, false, b, false, c, m, k, n, false);
}

}  // namespace han
