// Batch normalization over the batch axis of a row-major (n, c) array (torch BatchNorm1d).
//
// Portable C++ (no per-ISA tables): the work is memory-bound and small next to the GEMMs around
// it. Every per-feature reduction runs over the rows i = 0..n-1 in that order, in double, and
// each feature is owned by exactly one thread (OpenMP over blocks of features), so the results
// are the same bits for any thread count. Elementwise math is done in double and rounded once to
// T. Batch statistics are saved in double for the backward pass.
#pragma once
#include <cstddef>

namespace cg {

// Training forward: per feature j, mean = sum_i x / n, var = sum_i (x - mean)^2 / n (biased),
// invstd = 1 / sqrt(var + eps), y = (x - mean) * invstd * weight + bias. Saves mean and invstd,
// and, when running_mean is not null, updates the running statistics with the unbiased
// variance: running = (1 - momentum) * running + momentum * batch (requires n >= 2).
template <class T>
void batchnorm_forward_train(std::size_t n, std::size_t c, const T* x, const T* weight,
                             const T* bias, T* y, double* save_mean, double* save_invstd,
                             T* running_mean, T* running_var, double momentum, double eps);

// Inference forward with the running statistics: y = (x - rm) / sqrt(rv + eps) * weight + bias.
// Saves mean = rm and invstd = 1 / sqrt(rv + eps) (in double) for a backward pass.
template <class T>
void batchnorm_forward_eval(std::size_t n, std::size_t c, const T* x, const T* weight,
                            const T* bias, T* y, double* save_mean, double* save_invstd,
                            const T* running_mean, const T* running_var, double eps);

// Backward: xhat = (x - mean) * invstd, dbias = sum_i dy, dweight = sum_i dy * xhat and
//   training:  dx = weight * invstd * (dy - dbias / n - xhat * dweight / n)
//   inference: dx = weight * invstd * dy            (the statistics are constants)
// dx may be null (the input gradient is not needed).
template <class T>
void batchnorm_backward(std::size_t n, std::size_t c, const T* dy, const T* x, const T* weight,
                        const double* save_mean, const double* save_invstd, T* dx, T* dweight,
                        T* dbias, bool training);

}  // namespace cg
