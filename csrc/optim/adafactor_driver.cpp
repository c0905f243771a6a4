// Adafactor group step (torch.optim.Adafactor, Shazeer & Stern 2018).
//
// Passes over one tensor of n elements (t its step after this one, s strips of kFactorStrip):
//   1. read p:     sum p^2 (strip sums in order)            -> alpha = max(eps2, RMS(p)) * rho_t
//   2. read g:     factored: per strip of columns, the row partials and the column sums of g^2
//                  (sequential over the rows; the row partials are lane sums); unfactored:
//                  v = lerp(v, g*g, t^beta2_decay) and sum u^2 fused into pass 3
//      then (O(rows + cols), here): row_var/col_var = lerp(.., (||.||)^2 / len, t^beta2_decay),
//      m = max(mean of row_var over the rows, eps1)
//   3. read g:     sum u^2 with u = (1 / sqrt(max(row_var * col_var / m, eps1^2))) * g
//   4. read g, p:  p = p * (1 - lr wd) - alpha / max(1, RMS(u) / d) * u (u recomputed, never
//                  stored: no buffer of the tensor's size)
// Every sum is a fixed-order double sum (see optim/factormuon_kernels.h): the same bits on every
// ISA and thread count.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "common/parallel.h"
#include "optim/factormuon_driver.h"
#include "optim/factormuon_kernels.h"

namespace cg {
namespace {

constexpr std::size_t kMinParallel = 1 << 16;  // below this many elements, one thread
constexpr std::size_t kItem = 1 << 15;         // elements per work item (at least one row strip)

void require(bool ok, const char* name, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(name) + " " + what);
}

template <class T>
LerpCoeffs<T> lerp_coeffs(double w) {
  const T wt = static_cast<T>(w);
  return {wt, T(1) - wt, std::fabs(wt) < T(0.5)};
}

template <class T>
T lerp_s(T a, T b, const LerpCoeffs<T>& c) {
  return c.small ? a + c.w * (b - a) : b - (b - a) * c.one_minus_w;
}

std::size_t strips_of(std::size_t len) { return (len + kFactorStrip - 1) / kFactorStrip; }

// Sum of x^2 over n elements: strip sums (each a lane sum) added in order.
template <class T>
double sum_sq(const FactorMuonKernels<T>& k, std::size_t n, const T* x) {
  const std::size_t s = strips_of(n);
  std::vector<double> part(s);
  parallel_for(s, n, kMinParallel, [&](std::size_t i) {
    const std::size_t off = i * kFactorStrip;
    part[i] = k.sq_sum(std::min(kFactorStrip, n - off), x + off);
  });
  double total = 0.0;
  for (double v : part) total += v;
  return total;
}

// The factored second moment (pass 2) and the mean clamps m (one per matrix).
template <class T>
void factored_moments(const FactorMuonKernels<T>& k, const AdafactorTensor<T>& x,
                      const LerpCoeffs<T>& beta, double eps1, std::vector<T>& m) {
  const std::size_t B = x.batch, R = x.rows, C = x.cols, S = strips_of(C);
  std::vector<double> row_part(B * S * R), col_sq(B * C);
  parallel_for(B * S, B * R * C, kMinParallel, [&](std::size_t it) {
    const std::size_t b = it / S, s = it % S, j = s * kFactorStrip;
    k.sq_strip(R, std::min(kFactorStrip, C - j), C, x.g + b * R * C + j, &row_part[it * R],
               &col_sq[b * C + j]);
  });
  m.assign(B, T(0));
  for (std::size_t b = 0; b < B; ++b) {
    double mean = 0.0;
    for (std::size_t i = 0; i < R; ++i) {
      double sq = 0.0;
      for (std::size_t s = 0; s < S; ++s) sq += row_part[(b * S + s) * R + i];
      const double norm = std::sqrt(sq);
      T& rv = x.row_var[b * R + i];
      rv = lerp_s(rv, static_cast<T>(norm * norm / static_cast<double>(C)), beta);
      mean += static_cast<double>(rv);
    }
    for (std::size_t j = 0; j < C; ++j) {
      const double norm = std::sqrt(col_sq[b * C + j]);
      T& cv = x.col_var[b * C + j];
      cv = lerp_s(cv, static_cast<T>(norm * norm / static_cast<double>(R)), beta);
    }
    m[b] = std::max(static_cast<T>(mean / static_cast<double>(R)), static_cast<T>(eps1));
  }
}

// Pass 3 (apply = false: returns sum u^2) or pass 4 (apply = true) over a factored tensor.
template <class T>
double factored_pass(const FactorMuonKernels<T>& k, const AdafactorTensor<T>& x,
                     const std::vector<T>& m, const AdafactorCoeffs<T>& c, bool apply) {
  const std::size_t B = x.batch, R = x.rows, C = x.cols, S = strips_of(C), rows = B * R;
  const std::size_t per = std::max<std::size_t>(1, kItem / std::min(C, kFactorStrip));
  const std::size_t blocks = (rows + per - 1) / per;
  std::vector<double> part(apply ? 0 : rows * S);
  parallel_for(blocks * S, rows * C, kMinParallel, [&](std::size_t it) {
    const std::size_t blk = it / S, s = it % S, j = s * kFactorStrip;
    const std::size_t len = std::min(kFactorStrip, C - j);
    for (std::size_t i = blk * per; i < std::min(rows, (blk + 1) * per); ++i) {
      const std::size_t b = i / R, off = i * C + j;
      const double v = k.factored_row(len, x.p + off, x.g + off, x.col_var + b * C + j,
                                      x.row_var[i], m[b], c, apply);
      if (!apply) part[i * S + s] = v;
    }
  });
  double total = 0.0;  // rows in order, each the sum of its strips in order
  for (std::size_t i = 0; !apply && i < rows; ++i) {
    double row = 0.0;
    for (std::size_t s = 0; s < S; ++s) row += part[i * S + s];
    total += row;
  }
  return total;
}

// Passes 2-3 (apply = false: updates the variance, returns sum u^2) or 4 over an unfactored one.
template <class T>
double unfactored_pass(const FactorMuonKernels<T>& k, const AdafactorTensor<T>& x,
                       const AdafactorCoeffs<T>& c, bool apply) {
  const std::size_t n = x.cols, S = strips_of(n);
  std::vector<double> part(S);
  parallel_for(S, n, kMinParallel, [&](std::size_t s) {
    const std::size_t off = s * kFactorStrip;
    part[s] = k.unfactored(std::min(kFactorStrip, n - off), x.p + off, x.g + off, x.variance + off,
                           c, apply);
  });
  double total = 0.0;
  for (double v : part) total += v;
  return total;
}

}  // namespace

void check(const AdafactorHyper& h) {
  require(std::isfinite(h.lr) && h.lr >= 0.0, "lr",
          "must be a finite number >= 0, got " + std::to_string(h.lr));
  require(std::isfinite(h.beta2_decay) && h.beta2_decay <= 0.0, "beta2_decay",
          "must be a finite number <= 0, got " + std::to_string(h.beta2_decay));
  require(std::isfinite(h.eps1) && h.eps1 >= 0.0, "eps[0]",
          "must be None or a finite number >= 0, got " + std::to_string(h.eps1));
  require(std::isfinite(h.eps2) && h.eps2 >= 0.0, "eps[1]",
          "must be a finite number >= 0, got " + std::to_string(h.eps2));
  require(std::isfinite(h.d) && h.d >= 1.0, "d",
          "(the clipping threshold) must be a finite number >= 1, got " + std::to_string(h.d));
  require(std::isfinite(h.weight_decay) && h.weight_decay >= 0.0, "weight_decay",
          "must be a finite number >= 0, got " + std::to_string(h.weight_decay));
}

// One tensor's step (its parallel_for calls run on one thread when called from a part).
template <class T>
void adafactor_tensor(const FactorMuonKernels<T>& k, const AdafactorTensor<T>& x,
                      const AdafactorHyper& h) {
  const std::size_t n = x.batch * x.rows * x.cols;
  if (n == 0) return;  // nothing to update (torch divides by numel() ** 0.5 = 0)
  const double t = static_cast<double>(x.step), rn = std::sqrt(static_cast<double>(n));
  const double rho = std::min(h.lr, 1.0 / std::sqrt(t));
  const double alpha = std::max(h.eps2, std::sqrt(sum_sq(k, n, x.p)) / rn) * rho;
  AdafactorCoeffs<T> c;
  c.beta = lerp_coeffs<T>(std::pow(t, h.beta2_decay));
  c.eps1_sq = static_cast<T>(h.eps1 * h.eps1);
  c.decay = static_cast<T>(1.0 - h.lr * h.weight_decay);
  c.neg_step = T(0);
  c.maximize = h.maximize;
  std::vector<T> m;
  double usum;
  if (x.factored) {
    factored_moments(k, x, c.beta, h.eps1, m);
    usum = factored_pass(k, x, m, c, false);
  } else {
    usum = unfactored_pass(k, x, c, false);
  }
  const double denom = std::max(1.0, std::sqrt(usum) / (rn * h.d));
  c.neg_step = static_cast<T>(-alpha / denom);
  if (x.factored)
    factored_pass(k, x, m, c, true);
  else
    unfactored_pass(k, x, c, true);
}

// Tensors too small to split run side by side, one tensor per part; the others one after
// another, each split into parts. Tensors are independent: the same bits either way.
template <class T>
void adafactor_step(const std::vector<AdafactorTensor<T>>& ts, const AdafactorHyper& h) {
  const FactorMuonKernels<T>& k = factormuon_kernels<T>();
  std::vector<std::size_t> small;
  std::size_t small_work = 0;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const std::size_t n = ts[i].batch * ts[i].rows * ts[i].cols;
    if (n < kMinParallel) {
      small.push_back(i);
      small_work += n;
    } else {
      adafactor_tensor(k, ts[i], h);
    }
  }
  parallel_for(small.size(), small_work, kMinParallel,
               [&](std::size_t i) { adafactor_tensor(k, ts[small[i]], h); });
}

template void adafactor_step<float>(const std::vector<AdafactorTensor<float>>&,
                                    const AdafactorHyper&);
template void adafactor_step<double>(const std::vector<AdafactorTensor<double>>&,
                                     const AdafactorHyper&);

}  // namespace cg
