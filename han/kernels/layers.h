// The fused engine's building blocks on raw float arrays: a matrix product,
// one direction of a GRU and an attention pooling over packed sequences,
// each with its backward pass. fused.h assembles the HAN from them; each is
// tested alone against finite differences (tests/test_kernels.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "han/kernels/packed.h"

namespace han::kernels {

// A buffer that only grows, so steady-state calls allocate nothing.
struct Buffer {
  std::vector<float> data;
  float* get(int64_t size) {
    if (data.size() < static_cast<size_t>(size)) data.resize(static_cast<size_t>(size));
    return data.data();
  }
  float* zeros(int64_t size) {
    float* p = get(size);
    std::fill(p, p + size, 0.0f);
    return p;
  }
};

// One direction of a GRU over a packed layout (PyTorch's gate order r, z, n):
//   r = sigmoid(x_r + W_hr h + b_hr), z = sigmoid(x_z + W_hz h + b_hz),
//   n = tanh(x_n + r * (W_hn h + b_hn)), h' = (1 - z) n + z h,
// where x = W_i x + b_i comes precomputed from `table`: the 3h values of
// step-token j sit at row slot[token] (or row token), columns direction*3h.
// The backward direction's step t reads each row's token length-1-t.
struct GruDirection {
  const PackedLayout& layout;
  const float* table;
  int64_t table_width;     // 6h
  const int32_t* slot;     // null: identity
  int direction;           // 0 forward, 1 backward
  const float* weight_hh;  // [3h, h]
  const float* bias_hh;    // [3h]
  int64_t hidden;

  const float* gate_inputs(int64_t j) const {
    const int64_t token = direction ? layout.mirror()[static_cast<size_t>(j)] : j;
    const int64_t row = slot ? slot[token] : token;
    return table + row * table_width + direction * 3 * hidden;
  }
  float* d_gate_inputs(float* d_table, int64_t j) const {
    const int64_t token = direction ? layout.mirror()[static_cast<size_t>(j)] : j;
    const int64_t row = slot ? slot[token] : token;
    return d_table + row * table_width + direction * 3 * hidden;
  }
};

struct GruGradients {
  float* d_table;      // [table rows, 6h], accumulated at each token's row
  float* d_weight_hh;  // [3h, h], accumulated
  float* d_bias_hh;    // [3h], accumulated
};

struct GruScratch {
  Buffer carry;          // [rows, h]: dL/dh flowing to the previous step
  Buffer d_gate_hidden;  // [rows, 3h]: one step's gradient of W_hh h + b_hh
  Buffer zeros;
};

// u = tanh(W x + b), score = u . context, weights = softmax over each row's
// tokens, pooled[row] = sum of weights * x.
struct AttentionView {
  const float* weight;   // [a, in]
  const float* bias;     // [a]
  const float* context;  // [a]
  int64_t input;
  int64_t size;
};

struct AttentionGradients {
  float* d_weight;   // [a, in], accumulated
  float* d_bias;     // [a], accumulated
  float* d_context;  // [a], accumulated
};

// c[m, n] = op(a) . op(b), or += with `accumulate`. op(a) is [m, k]: a is
// stored [m, k], or [k, m] when a_transposed. op(b) is [k, n] likewise.
// oneDNN's sgemm when the process has it, else LibTorch's mm with the BLAS it
// was built with (see matmul_backend in fused.h).
void matmul(const float* a, bool a_transposed, const float* b, bool b_transposed, float* c, int64_t m, int64_t k,
            int64_t n, bool accumulate);

// sums[k] += x[i, k] over the rows; x[i, k] += bias[k] for each row.
void add_column_sums(const float* x, int64_t rows, int64_t cols, float* sums);
void add_rows_bias(float* x, int64_t rows, int64_t cols, const float* bias);

// states [tokens, h] in this direction's step order; cache [tokens, 4h]
// (r, z, n, W_hn h + b_hn) for the backward pass, or null.
void gru_forward(const GruDirection& g, float* states, float* cache, Buffer& gate_hidden_buffer, Buffer& zeros_buffer);

// d_outputs [tokens, 2h] in reading order: dL/d(outputs of both directions);
// this direction's half of a step-token's row is read in place. Adds to `out`.
void gru_backward(const GruDirection& g, const float* states, const float* cache, const float* d_outputs,
                  const GruGradients& out, GruScratch& scratch);

// hidden [tokens, a] and weights [tokens] (the softmax, in packed order) are
// written for the backward pass; pooled [rows, in].
void attention_forward(const PackedLayout& layout, const float* states, const AttentionView& att, float* hidden,
                       float* weights, float* pooled, Buffer& row_max_buffer, Buffer& row_sum_buffer);

// From d_pooled [rows, in]: d_states [tokens, in] is written (not
// accumulated), the weights' gradients added to `out`.
// `hidden` is overwritten with its own gradient (before tanh): nothing needs it after.
void attention_backward(const PackedLayout& layout, const float* states, const AttentionView& att, float* hidden,
                        const float* weights, const float* d_pooled, float* d_states, const AttentionGradients& out,
                        Buffer& d_weights_buffer, Buffer& row_sum_buffer);

// The paper's ablations of attention, over each row's tokens. `weights`
// [tokens] (packed order) says what each token gave its row's vector, summing
// to one per row like attention's: 1/length for the mean; for the max, the
// share of the vector's features the token supplied. winners [rows, in]
// holds, for each feature, the token it came from (the first if tied).
void mean_pool_forward(const PackedLayout& layout, const float* states, int64_t in, float* weights, float* pooled);
void max_pool_forward(const PackedLayout& layout, const float* states, int64_t in, int32_t* winners, float* weights,
                      float* pooled);
// d_states [tokens, in] is written (not accumulated).
void mean_pool_backward(const PackedLayout& layout, const float* weights, const float* d_pooled, int64_t in,
                        float* d_states);
void max_pool_backward(const PackedLayout& layout, const int32_t* winners, const float* d_pooled, int64_t in,
                       float* d_states);

}  // namespace han::kernels
