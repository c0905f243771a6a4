// Dense-layer kernels: the GEMM microkernel and packing routines, the activation backward pass
// and the weight-penalty gradient, gathered in one table per ISA.
//
// The GEMM follows BLIS (Van Zee & van de Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS
// Functionality", ACM TOMS 2015): op(A) is packed into MC x KC blocks of MR-row micro-panels,
// op(B) into KC x NC blocks of NR-column micro-panels, and an MR x NR register-blocked microkernel
// multiplies one A micro-panel by one B micro-panel. The loops around it live in the portable
// driver (nn/gemm_driver.cpp); everything that touches registers lives here, per ISA.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cg {

enum class Act : int { linear = 0, relu = 1, leaky_relu = 2, sigmoid = 3, tanh = 4 };

// What the microkernel does with its MR x NR result tile `acc` when it stores it into C.
//   C = acc                         load_c false (first K block, beta = 0)
//   C = C + acc                     load_c true  (a later K block, or beta = 1)
// and, only when `last` (the final K block): C = act(C + bias[j]).
template <class T>
struct MicroEpilogue {
  bool load_c = false;
  bool last = true;
  const T* bias = nullptr;  // bias of the tile's first column, or nullptr
  Act act = Act::linear;
  T slope = T(0);  // leaky_relu negative slope
};

// Cache blocking of one ISA and dtype (elements). mc % mr == 0 and nc % nr == 0.
struct GemmBlocking {
  std::size_t mr, nr, mc, kc, nc;
};

// Coefficients of the activation backward pass (see dense_backward in nn/dense.h).
template <class T>
struct ActGrad {
  Act act = Act::linear;
  T slope = T(0);
  T act_l1 = T(0);   // activity_l1 / batch
  T act_2l2 = T(0);  // 2 * activity_l2 / batch
};

// Partial sums of softmax cross-entropy over a block of rows: sum of -log p_target, sum of the
// smoothing term (log s - mean_j z_j), and the number of rows whose argmax is the target.
struct XentPart {
  double nll = 0.0, smooth = 0.0;
  std::int64_t correct = 0;
};

// The `ignore` label of a softmax cross-entropy without ignore_index: no checked label equals it.
constexpr std::int64_t kNoIgnoreLabel = INT64_MIN;

template <class T>
struct NnKernels {
  GemmBlocking blocking;
  // Packs the mc x kc block of op(A) whose top-left element is at `a` (op(A)(i, k) is a[i*lda + k],
  // or a[k*lda + i] when trans) into ceil(mc/mr) micro-panels of mr*kc elements, k-major,
  // rows past mc zero-filled.
  void (*pack_a)(std::size_t mc, std::size_t kc, const T* a, std::size_t lda, bool trans, T* dst);
  // Packs the kc x nc block of op(B) at `b` (op(B)(k, j) is b[k*ldb + j], or b[j*ldb + k] when
  // trans) into ceil(nc/nr) micro-panels of kc*nr elements, k-major, columns past nc zero-filled.
  void (*pack_b)(std::size_t kc, std::size_t nc, const T* b, std::size_t ldb, bool trans, T* dst);
  // C[0:m, 0:n] (row stride ldc, m <= mr, n <= nr) from the product of one packed A micro-panel
  // and one packed B micro-panel over kc, stored through the epilogue `e`.
  void (*micro)(std::size_t kc, const T* a, const T* b, T* c, std::size_t ldc, std::size_t m,
                std::size_t n, const MicroEpilogue<T>& e);
  // For rows x cols (row stride ld) : g = dout + act_l1*sign(y) + act_2l2*y;
  // dyp = g * act'(y) (act' from the output y); db[j] = sum over the rows of dyp[:, j] in row
  // order, written (not accumulated) when db is not null.
  void (*act_backward)(std::size_t rows, std::size_t cols, std::size_t ld, const T* dout,
                       const T* y, T* dyp, T* db, const ActGrad<T>& p);
  // g[i] += l1*sign(w[i]) + two_l2*w[i] for i < n.
  void (*weight_penalty_grad)(std::size_t n, const T* w, T* g, T l1, T two_l2);
  // out[i] = act(x[i]) for i < n (the epilogue's activation alone).
  void (*activation)(std::size_t n, const T* x, T* out, Act act, T slope);
  // Softmax cross-entropy of `rows` rows of k logits x against labels t (each in [0, k) or
  // equal to `ignore`, checked by the caller): writes d = (softmax(x) - q) * inv_n,
  // q = (1 - ls) onehot(t) + ls / k; rows labelled `ignore` get d = 0 and add nothing.
  XentPart (*softmax_xent)(std::size_t rows, std::size_t k, const T* x, const std::int64_t* t, T* d,
                           T smoothing, T inv_n, std::int64_t ignore);
  // True when x[0:n] holds no NaN or infinity.
  bool (*all_finite)(std::size_t n, const T* x);
  // sums[0] = sum |x[i]|, sums[1] = sum x[i]^2 over x[0:n], in double.
  void (*abs_sq_sums)(std::size_t n, const T* x, double* sums);
  // g[i] = min(max(g[i] * scale, -bound), bound) for i < n; NaN stays NaN.
  void (*scale_clip)(std::size_t n, T* g, T scale, T bound);
};

namespace scalar {
template <class T>
const NnKernels<T>& nn_kernels();
}
namespace avx2 {
template <class T>
const NnKernels<T>& nn_kernels();
}
namespace avx512 {
template <class T>
const NnKernels<T>& nn_kernels();
}
template <class T>
const NnKernels<T>& nn_kernels();

}  // namespace cg
