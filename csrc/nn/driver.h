// Portable drivers of the nn kernels: the blocked, threaded GEMM and the dense-layer backward pass.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "nn/kernels.h"

namespace cg {

// C = act(op(A) @ op(B) + (accumulate ? C : 0) + bias), all row-major.
// op(A) is m x k: A is m x k (lda >= k) or, when trans_a, k x m (lda >= m); likewise op(B) is
// k x n from B (k x n, or n x k when trans_b). bias (n elements) may be null.
template <class T>
struct GemmArgs {
  std::size_t m = 0, n = 0, k = 0;
  const T* a = nullptr;
  std::size_t lda = 0;
  bool trans_a = false;
  const T* b = nullptr;
  std::size_t ldb = 0;
  bool trans_b = false;
  T* c = nullptr;
  std::size_t ldc = 0;
  bool accumulate = false;
  const T* bias = nullptr;
  Act act = Act::linear;
  T slope = T(0);
};

// The row-major product c (m x n, row stride ldc) = op(a) @ op(b) over k; no accumulation, bias
// or activation (set those fields after).
template <class T>
GemmArgs<T> gemm_args(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda,
                      bool trans_a, const T* b, std::size_t ldb, bool trans_b, T* c,
                      std::size_t ldc) {
  GemmArgs<T> g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = lda;
  g.trans_a = trans_a;
  g.b = b;
  g.ldb = ldb;
  g.trans_b = trans_b;
  g.c = c;
  g.ldc = ldc;
  return g;
}

// GEMMs of fewer multiply-adds (m*n*k) than this run on one thread.
constexpr std::size_t kGemmMinParallelWork = std::size_t(1) << 18;

// Runs on up to get_num_threads() threads, each owning a block of rows or columns of C; K is never
// split, so the result is the same bits for any thread count.
template <class T>
void gemm(const GemmArgs<T>& g);

// The current ISA's blocking for T.
template <class T>
GemmBlocking gemm_blocking();

inline std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }
inline std::size_t round_up(std::size_t a, std::size_t b) { return ceil_div(a, b) * b; }

// The K block size of the GEMM and of the products that pack for its microkernel: KC,
// rebalanced so the blocks are of near-equal size (784 -> 4 x 196 rather than 3 x 256 + 16).
// Depends on K and the ISA only, never on the thread count.
inline std::size_t balanced_kc(std::size_t k, std::size_t kc) {
  if (k <= kc) return k;
  const std::size_t blocks = ceil_div(k, kc);
  return ceil_div(k, blocks);
}

// Backward pass of y = act(x @ w + b), with x (batch, in), w (in, out), y and dout (batch, out):
//   dyp = (dout + act_l1*sign(y) + act_2l2*y) * act'(y)      (scratch, batch x out)
//   dw  = x^T @ dyp + weight_l1*sign(w) + weight_2l2*w
//   db  = column sums of dyp                                 (when db is not null)
//   dx  = dyp @ w^T                                          (when dx is not null)
template <class T>
struct DenseBackwardArgs {
  std::size_t batch = 0, in = 0, out = 0;
  const T* x = nullptr;
  const T* w = nullptr;
  const T* y = nullptr;
  const T* dout = nullptr;
  T* dyp = nullptr;
  T* dw = nullptr;
  T* db = nullptr;
  T* dx = nullptr;
  ActGrad<T> grad;
  T weight_l1 = T(0), weight_2l2 = T(0);
};

// Returns {sum |w|, sum w^2} over the weights (in double, summed in fixed chunks in order, so
// the same bits for any thread count) when a weight penalty is set, else {0, 0}: the penalty
// pass reads the weights anyway, so the penalty's value comes without another pass.
template <class T>
std::array<double, 2> dense_backward(const DenseBackwardArgs<T>& a);

// Forward pass of a Dense layer: y (rows x out) = act(x (rows x in) @ w (in x out) + b), b may be
// null; one GEMM with the epilogue fused.
template <class T>
void dense_forward(std::size_t rows, std::size_t in, std::size_t out, const T* x, const T* w,
                   const T* b, T* y, Act act, T slope);

// dyp = (dout + act_l1*sign(y) + act_2l2*y) * act'(y) over rows x cols (contiguous) and, when db
// is not null, db = its column sums: column strips on the threads, each reduced by one thread
// with the rows in order (the same bits for any thread count).
template <class T>
void act_backward_pass(std::size_t rows, std::size_t cols, const T* dout, const T* y, T* dyp, T* db,
                       const ActGrad<T>& grad);

// dw[i] += weight_l1*sign(w[i]) + weight_2l2*w[i] for i < n, in fixed chunks on the threads;
// returns {sum |w|, sum w^2} (in double, chunks summed in order: the same bits for any thread
// count) when a penalty is set, else {0, 0} without touching dw.
template <class T>
std::array<double, 2> add_weight_penalty(std::size_t n, const T* w, T* dw, T weight_l1,
                                         T weight_2l2);

// The layer-level coefficients of DenseBackwardArgs from the layer's settings (activity
// penalties divided by the batch rows, weight_l2 doubled), as the Dense layer defines them.
template <class T>
void set_dense_coeffs(DenseBackwardArgs<T>& a, Act act, double slope, double activity_l1,
                      double activity_l2, double weight_l1, double weight_l2) {
  const double batch = a.batch ? static_cast<double>(a.batch) : 1.0;
  a.grad.act = act;
  a.grad.slope = T(slope);
  a.grad.act_l1 = T(activity_l1 / batch);
  a.grad.act_2l2 = T(2.0 * activity_l2 / batch);
  a.weight_l1 = T(weight_l1);
  a.weight_2l2 = T(2.0 * weight_l2);
}

// The value of an L1/L2 penalty from its sums {sum |x|, sum x^2}.
inline double penalty_value(double l1, double l2, const std::array<double, 2>& sums) {
  return l1 * sums[0] + l2 * sums[1];
}

// dst row r = src row index[r] for r < rows (rows of row_bytes bytes; every index in range,
// checked by the caller).
void gather_rows(std::size_t rows, std::size_t row_bytes, const char* src,
                 const std::int64_t* index, char* dst);

// The same gather shared by the threads that call it with the same `next` (an item counter from
// 0): each copies items of rows it claims from `next` until none are left.
void gather_rows_shared(std::size_t rows, std::size_t row_bytes, const char* src,
                        const std::int64_t* index, char* dst, std::atomic<std::size_t>& next);

// Softmax cross-entropy of x (rows x k logits) against labels t (each in [0, k), or `ignore`):
// writes the gradient d = (softmax(x) - q) / counted and returns the row sums (see
// NnKernels::softmax_xent), where `counted` is the number of rows not labelled `ignore` (their d
// is 0; when every row is ignored, d is 0 and the sums are 0). The sums are taken in fixed blocks
// of rows, in order: the same bits for any thread count.
template <class T>
XentPart softmax_xent(std::size_t rows, std::size_t k, const T* x, const std::int64_t* t, T* d,
                      T smoothing, std::int64_t ignore = kNoIgnoreLabel,
                      std::size_t* counted = nullptr);

// The mean loss of `rows` rows from their sums: ((1 - s) nll + s smooth) / rows.
inline double xent_loss(const XentPart& p, double smoothing, std::size_t rows) {
  const double n = static_cast<double>(rows);
  return smoothing > 0.0 ? ((1.0 - smoothing) * p.nll + smoothing * p.smooth) / n : p.nll / n;
}

// True when x[0:n] holds no NaN or infinity.
template <class T>
bool all_finite(std::size_t n, const T* x);

// sums[0] = sum |x[i]|, sums[1] = sum x[i]^2 over x[0:n], in double; the same bits for any
// thread count.
template <class T>
void abs_sq_sums(std::size_t n, const T* x, double* sums);

// g[i] = min(max(g[i] * scale, -bound), bound) for i < n, in place (NaN stays NaN): the
// gradient clips of the training loop (scale 1 and bound infinity change nothing).
template <class T>
void scale_clip(std::size_t n, T* g, T scale, T bound);

// out[i] = act(x[i]) for i < n.
template <class T>
void activation(std::size_t n, const T* x, T* out, Act act, T slope);

}  // namespace cg
