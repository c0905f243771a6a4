// Adafactor and Muon kernels: per-tensor coefficients and the per-ISA kernel table.
//
// Adafactor's reductions are sums in double over strips of at most kFactorStrip consecutive
// elements of a row (of the flattened tensor when it is not factored), each a lane sum (element j
// in lane j % kSumLanes, lanes sequential, then added in lane order); the strip partials are then
// added in order. Every element's arithmetic is the same on every ISA, so the
// sums, and with them the updates, are the same bits on every ISA and at any thread count, and
// convergent.reference.adafactor_step reproduces them exactly (numpy.cumsum is sequential).
#pragma once
#include <cstddef>

namespace cg {

// Elements per strip of Adafactor's reductions (also the unit of its parallel work items).
constexpr std::size_t kFactorStrip = 4096;
// Lanes of a strip's sum of squares (optim/adafactor.h: LaneSums).
constexpr std::size_t kSumLanes = 32;

// torch.lerp's two forms: a + w (b - a) when |w| < 0.5, else b - (b - a)(1 - w).
template <class T>
struct LerpCoeffs {
  T w, one_minus_w;
  bool small;
};

template <class T>
struct AdafactorCoeffs {
  LerpCoeffs<T> beta;  // weight t^beta2_decay of the new squared-gradient mean
  T eps1_sq;           // lower clamp of the variance estimate (eps1 * eps1)
  T decay;             // 1 - lr * weight_decay
  T neg_step;          // -alpha / max(1, RMS(update) / d)
  bool maximize;
};

template <class T>
struct MuonCoeffs {
  LerpCoeffs<T> buf;       // weight 1 - momentum: buf = lerp(buf, g, 1 - momentum)
  LerpCoeffs<T> nesterov;  // weight momentum: update = lerp(g, buf, momentum)
  bool use_nesterov;
};

template <class T>
struct FactorMuonKernels {
  // Factored second moment, pass 1, over a strip of `cols` columns of `rows` rows (row stride
  // ld): row_part[i] = sum_j g[i][j]^2 (lane sum), col_sq[j] = sum_i g[i][j]^2
  // (sequential over i, from 0); squares in double.
  void (*sq_strip)(std::size_t rows, std::size_t cols, std::size_t ld, const T* g, double* row_part,
                   double* col_sq);
  // sum_i x[i]^2 over i < n in double (lane sum).
  double (*sq_sum)(std::size_t n, const T* x);
  // Factored update of one row strip: u[j] = (1 / sqrt(max(r * col[j] / m, eps1_sq))) * g[j]
  // (g negated if maximize). apply = false: returns sum_j u[j]^2 (lane sum, double).
  // apply = true: p[j] = p[j] * decay + neg_step * u[j]; returns 0.
  double (*factored_row)(std::size_t n, T* p, const T* g, const T* col, T r, T m,
                         const AdafactorCoeffs<T>& c, bool apply);
  // Unfactored: apply = false: v = lerp(v, g*g, beta), returns sum u^2 with
  // u = (1 / sqrt(max(v, eps1_sq))) * g; apply = true: p = p * decay + neg_step * u (v is read).
  double (*unfactored)(std::size_t n, T* p, const T* g, T* v, const AdafactorCoeffs<T>& c,
                       bool apply);
  // Muon momentum: buf = lerp(buf, g, 1 - mu); y = nesterov ? lerp(g, buf, mu) : buf.
  void (*muon_momentum)(std::size_t n, const T* g, T* buf, T* y, const MuonCoeffs<T>& c);
  // out[i] = a * x[i] + b * y[i] (out may be y); b == 0 drops the y term (y may be null).
  void (*axpby)(std::size_t n, T a, const T* x, T b, const T* y, T* out);
  // x[i] = x[i] / s
  void (*div)(std::size_t n, T* x, T s);
};

namespace scalar {
template <class T>
const FactorMuonKernels<T>& factormuon_kernels();
}
namespace avx2 {
template <class T>
const FactorMuonKernels<T>& factormuon_kernels();
}
namespace avx512 {
template <class T>
const FactorMuonKernels<T>& factormuon_kernels();
}
template <class T>
const FactorMuonKernels<T>& factormuon_kernels();

}  // namespace cg
