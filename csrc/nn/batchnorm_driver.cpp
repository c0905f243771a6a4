// BatchNorm kernels (see batchnorm.h). Features are processed in blocks of kBlock columns: for a
// block, the rows are walked in order with one double accumulator per feature, which keeps the
// accesses contiguous and the summation order fixed.
#include <algorithm>
#include <cmath>

#include "common/parallel.h"
#include "nn/batchnorm.h"

namespace cg {
namespace {

constexpr std::size_t kBlock = 64;             // features per work item
constexpr std::size_t kMinParallel = 1 << 15;  // below this many elements, one thread

template <class F>
void for_each_block(std::size_t n, std::size_t c, F&& body) {
  const std::size_t blocks = (c + kBlock - 1) / kBlock;
  parallel_for(blocks, n * c, kMinParallel, [&](std::size_t b) {
    const std::size_t j0 = b * kBlock;
    body(j0, std::min(kBlock, c - j0));
  });
}

// acc[k] = sum over rows of x[i, j0 + k], rows in order.
template <class T>
void column_sums(std::size_t n, std::size_t c, const T* x, std::size_t j0, std::size_t w,
                 double* acc) {
  for (std::size_t k = 0; k < w; ++k) acc[k] = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const T* row = x + i * c + j0;
    for (std::size_t k = 0; k < w; ++k) acc[k] += static_cast<double>(row[k]);
  }
}

template <class T>
void normalize_block(std::size_t n, std::size_t c, const T* x, const T* weight, const T* bias, T* y,
                     std::size_t j0, std::size_t w, const double* mean, const double* invstd) {
  double scale[kBlock], shift[kBlock];
  for (std::size_t k = 0; k < w; ++k) {
    scale[k] = invstd[k] * static_cast<double>(weight[j0 + k]);
    shift[k] = static_cast<double>(bias[j0 + k]);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const T* xr = x + i * c + j0;
    T* yr = y + i * c + j0;
    for (std::size_t k = 0; k < w; ++k)
      yr[k] = static_cast<T>((static_cast<double>(xr[k]) - mean[k]) * scale[k] + shift[k]);
  }
}

}  // namespace

template <class T>
void batchnorm_forward_train(std::size_t n, std::size_t c, const T* x, const T* weight,
                             const T* bias, T* y, double* save_mean, double* save_invstd,
                             T* running_mean, T* running_var, double momentum, double eps) {
  for_each_block(n, c, [&](std::size_t j0, std::size_t w) {
    double mean[kBlock], sq[kBlock], invstd[kBlock];
    column_sums(n, c, x, j0, w, mean);
    for (std::size_t k = 0; k < w; ++k) mean[k] /= static_cast<double>(n);
    for (std::size_t k = 0; k < w; ++k) sq[k] = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const T* row = x + i * c + j0;
      for (std::size_t k = 0; k < w; ++k) {
        const double d = static_cast<double>(row[k]) - mean[k];
        sq[k] += d * d;
      }
    }
    for (std::size_t k = 0; k < w; ++k) {
      const double var = sq[k] / static_cast<double>(n);
      invstd[k] = 1.0 / std::sqrt(var + eps);
      save_mean[j0 + k] = mean[k];
      save_invstd[j0 + k] = invstd[k];
      if (running_mean) {
        const double unbiased = sq[k] / static_cast<double>(n - 1);
        const std::size_t j = j0 + k;
        running_mean[j] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[j]) +
                                         momentum * mean[k]);
        running_var[j] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[j]) +
                                        momentum * unbiased);
      }
    }
    normalize_block(n, c, x, weight, bias, y, j0, w, mean, invstd);
  });
}

template <class T>
void batchnorm_forward_eval(std::size_t n, std::size_t c, const T* x, const T* weight,
                            const T* bias, T* y, double* save_mean, double* save_invstd,
                            const T* running_mean, const T* running_var, double eps) {
  for_each_block(n, c, [&](std::size_t j0, std::size_t w) {
    double mean[kBlock], invstd[kBlock];
    for (std::size_t k = 0; k < w; ++k) {
      mean[k] = static_cast<double>(running_mean[j0 + k]);
      invstd[k] = 1.0 / std::sqrt(static_cast<double>(running_var[j0 + k]) + eps);
      save_mean[j0 + k] = mean[k];
      save_invstd[j0 + k] = invstd[k];
    }
    normalize_block(n, c, x, weight, bias, y, j0, w, mean, invstd);
  });
}

template <class T>
void batchnorm_backward(std::size_t n, std::size_t c, const T* dy, const T* x, const T* weight,
                        const double* save_mean, const double* save_invstd, T* dx, T* dweight,
                        T* dbias, bool training) {
  for_each_block(n, c, [&](std::size_t j0, std::size_t w) {
    double sdy[kBlock], sdyx[kBlock];
    const double* mean = save_mean + j0;
    const double* invstd = save_invstd + j0;
    for (std::size_t k = 0; k < w; ++k) sdy[k] = sdyx[k] = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const T* dr = dy + i * c + j0;
      const T* xr = x + i * c + j0;
      for (std::size_t k = 0; k < w; ++k) {
        const double g = static_cast<double>(dr[k]);
        sdy[k] += g;
        sdyx[k] += g * ((static_cast<double>(xr[k]) - mean[k]) * invstd[k]);
      }
    }
    for (std::size_t k = 0; k < w; ++k) {
      dbias[j0 + k] = static_cast<T>(sdy[k]);
      dweight[j0 + k] = static_cast<T>(sdyx[k]);
    }
    if (!dx) return;
    double scale[kBlock], mdy[kBlock], mdyx[kBlock];
    const double inv_n = training ? 1.0 / static_cast<double>(n) : 0.0;
    for (std::size_t k = 0; k < w; ++k) {
      scale[k] = static_cast<double>(weight[j0 + k]) * invstd[k];
      mdy[k] = sdy[k] * inv_n;
      mdyx[k] = sdyx[k] * inv_n;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const T* dr = dy + i * c + j0;
      const T* xr = x + i * c + j0;
      T* out = dx + i * c + j0;
      for (std::size_t k = 0; k < w; ++k) {
        const double xhat = (static_cast<double>(xr[k]) - mean[k]) * invstd[k];
        out[k] = static_cast<T>(scale[k] * (static_cast<double>(dr[k]) - mdy[k] - xhat * mdyx[k]));
      }
    }
  });
}

#define CG_INSTANTIATE(T)                                                                          \
  template void batchnorm_forward_train<T>(std::size_t, std::size_t, const T*, const T*, const T*, \
                                           T*, double*, double*, T*, T*, double, double);          \
  template void batchnorm_forward_eval<T>(std::size_t, std::size_t, const T*, const T*, const T*,  \
                                          T*, double*, double*, const T*, const T*, double);       \
  template void batchnorm_backward<T>(std::size_t, std::size_t, const T*, const T*, const T*,      \
                                      const double*, const double*, T*, T*, T*, bool);
CG_INSTANTIATE(float)
CG_INSTANTIATE(double)
#undef CG_INSTANTIATE

}  // namespace cg
