// The dense layer: the forward GEMM with its fused epilogue; the backward pass, the activation
// derivative fused into one pass over dout (with the bias gradient), then the two GEMMs.
#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "nn/driver.h"

namespace cg {
namespace {

constexpr std::size_t kStrip = 64;  // columns per work item (multiple of 4x16)
constexpr std::size_t kMinParallel = std::size_t(1) << 14;  // elements
constexpr std::size_t kChunk = std::size_t(1) << 14;        // elements per penalty work item

}  // namespace

template <class T>
void dense_forward(std::size_t rows, std::size_t in, std::size_t out, const T* x, const T* w,
                   const T* b, T* y, Act act, T slope) {
  GemmArgs<T> g = gemm_args(rows, out, in, x, in, false, w, out, false, y, out);
  g.bias = b;
  g.act = act;
  g.slope = slope;
  gemm(g);
}

template <class T>
void act_backward_pass(std::size_t rows, std::size_t cols, const T* dout, const T* y, T* dyp, T* db,
                       const ActGrad<T>& grad) {
  const NnKernels<T>& kr = nn_kernels<T>();
  // Each column strip is reduced by one thread, rows in order: db does not depend on threads.
  const std::size_t strips = (cols + kStrip - 1) / kStrip;
  parallel_for(strips, rows * cols, kMinParallel, [&](std::size_t s) {
    const std::size_t j = s * kStrip, w = std::min(kStrip, cols - j);
    kr.act_backward(rows, w, cols, dout + j, y + j, dyp + j, db ? db + j : nullptr, grad);
  });
}

template <class T>
std::array<double, 2> add_weight_penalty(std::size_t n, const T* w, T* dw, T weight_l1,
                                         T weight_2l2) {
  std::array<double, 2> sums{0.0, 0.0};
  if (weight_l1 == T(0) && weight_2l2 == T(0)) return sums;
  const NnKernels<T>& kr = nn_kernels<T>();
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<std::array<double, 2>> part(chunks);
  parallel_for(chunks, n, kMinParallel, [&](std::size_t c) {
    const std::size_t i = c * kChunk, len = std::min(kChunk, n - i);
    kr.weight_penalty_grad(len, w + i, dw + i, weight_l1, weight_2l2);
    kr.abs_sq_sums(len, w + i, part[c].data());  // the chunk is still in cache
  });
  for (const auto& q : part) {
    sums[0] += q[0];
    sums[1] += q[1];
  }
  return sums;
}

template <class T>
std::array<double, 2> dense_backward(const DenseBackwardArgs<T>& a) {
  act_backward_pass(a.batch, a.out, a.dout, a.y, a.dyp, a.db, a.grad);

  // dw = x^T @ dyp
  gemm(gemm_args(a.in, a.out, a.batch, a.x, a.in, true, a.dyp, a.out, false, a.dw, a.out));

  const std::array<double, 2> sums =
      add_weight_penalty(a.in * a.out, a.w, a.dw, a.weight_l1, a.weight_2l2);

  if (a.dx)  // dx = dyp @ w^T
    gemm(gemm_args(a.batch, a.in, a.out, a.dyp, a.out, false, a.w, a.out, true, a.dx, a.in));
  return sums;
}

template void dense_forward<float>(std::size_t, std::size_t, std::size_t, const float*,
                                   const float*, const float*, float*, Act, float);
template void dense_forward<double>(std::size_t, std::size_t, std::size_t, const double*,
                                    const double*, const double*, double*, Act, double);
template void act_backward_pass<float>(std::size_t, std::size_t, const float*, const float*, float*,
                                       float*, const ActGrad<float>&);
template void act_backward_pass<double>(std::size_t, std::size_t, const double*, const double*,
                                        double*, double*, const ActGrad<double>&);
template std::array<double, 2> add_weight_penalty<float>(std::size_t, const float*, float*, float,
                                                         float);
template std::array<double, 2> add_weight_penalty<double>(std::size_t, const double*, double*,
                                                          double, double);
template std::array<double, 2> dense_backward<float>(const DenseBackwardArgs<float>&);
template std::array<double, 2> dense_backward<double>(const DenseBackwardArgs<double>&);

}  // namespace cg
