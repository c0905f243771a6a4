// Muon group step (torch.optim.Muon; Jordan et al. 2024, Liu et al. 2025 for match_rms_adamw).
//
// Per tensor (R x C, r = min(R, C)), with Y the update in the parameter's layout:
//   Y = momentum(g, buf)                         (one elementwise pass; buf updated)
//   Y = Y / max(||Y||_F, eps)
//   ns_steps times (torch transposes a tall Y; here the products are arranged instead):
//     A  = Y Y^T (wide)  or  Y^T Y (tall)          r x r, GEMM (upper block triangle, mirrored)
//     B  = b A + c (A A)                           GEMM (the same) + elementwise
//     Y' = a Y + B Y (wide)  or  a Y + Y B^T (tall) elementwise + accumulating GEMM
//   p = p (1 - lr wd) - adjusted_lr Y
// The work buffers (2 R C + 2 r^2 elements) are kept per thread and grown on demand, so steps of
// the same shapes allocate nothing. The GEMM never splits K, so any thread count gives the same
// bits; its FMA blocking differs by ISA, so ISAs agree to rounding, not to the bit.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "common/parallel.h"
#include "nn/driver.h"
#include "optim/factormuon_driver.h"
#include "optim/factormuon_kernels.h"

namespace cg {
namespace {

constexpr std::size_t kChunk = 1 << 15;        // elements per work item
constexpr std::size_t kMinParallel = 1 << 16;  // below this many elements, one thread

void require(bool ok, const char* name, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(name) + " " + what);
}
void finite_nonneg(double x, const char* name) {
  require(std::isfinite(x) && x >= 0.0, name,
          "must be a finite number >= 0, got " + std::to_string(x));
}

template <class T>
LerpCoeffs<T> lerp_coeffs(double w) {
  const T wt = static_cast<T>(w);
  return {wt, T(1) - wt, std::fabs(wt) < T(0.5)};
}

// fn(offset, length) over [0, n) in chunks, in parallel for large n.
template <class F>
void chunked(std::size_t n, F&& fn) {
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, n, kMinParallel, [&](std::size_t i) {
    const std::size_t off = i * kChunk;
    fn(off, std::min(kChunk, n - off));
  });
}

template <class T>
std::vector<T>& workspace() {
  thread_local std::vector<T> w;
  return w;
}

// The symmetric r x r product out = op(a) op(b) (a Gram matrix or the square of one): block rows
// of at most 4 blocks, each computed from its diagonal block rightwards, then the lower triangle
// copied from the upper. Entry (i, j) is the same dot product as entry (j, i) (the same factors in
// the same K order), so this equals the full product while doing about 5/8 of its work.
template <class T>
void symmetric_product(std::size_t r, std::size_t k, const T* a, std::size_t lda, bool trans_a,
                       const T* b, std::size_t ldb, bool trans_b, T* out) {
  const std::size_t blocks = std::min<std::size_t>(4, std::max<std::size_t>(1, r / 64));
  const std::size_t bs = ((r + blocks - 1) / blocks + 15) / 16 * 16;
  for (std::size_t i0 = 0; i0 < r; i0 += bs) {
    const std::size_t m = std::min(bs, r - i0);
    // rows i0.. of op(a); columns i0.. of op(b)
    const T* ai = trans_a ? a + i0 : a + i0 * lda;
    const T* bj = trans_b ? b + i0 * ldb : b + i0;
    gemm(gemm_args(m, r - i0, k, ai, lda, trans_a, bj, ldb, trans_b, out + i0 * r + i0, r));
  }
  parallel_for(r, r * r / 2, kMinParallel, [&](std::size_t i) {
    for (std::size_t j = 0; j < i - i % bs; ++j) out[i * r + j] = out[j * r + i];
  });
}

}  // namespace

void check(const MuonHyper& h) {
  finite_nonneg(h.lr, "lr");
  finite_nonneg(h.weight_decay, "weight_decay");
  finite_nonneg(h.momentum, "momentum");
  require(std::isfinite(h.a), "ns_coefficients[0]", "must be finite");
  require(std::isfinite(h.b), "ns_coefficients[1]", "must be finite");
  require(std::isfinite(h.c), "ns_coefficients[2]", "must be finite");
  finite_nonneg(h.eps, "eps");
  require(h.ns_steps >= 0 && h.ns_steps < 100, "ns_steps",
          "must be an integer in [0, 100), got " + std::to_string(h.ns_steps));
}

template <class T>
void muon_step(const std::vector<MuonTensor<T>>& ts, const MuonHyper& h) {
  const FactorMuonKernels<T>& k = factormuon_kernels<T>();
  MuonCoeffs<T> mc;
  mc.buf = lerp_coeffs<T>(1.0 - h.momentum);
  mc.nesterov = lerp_coeffs<T>(h.momentum);
  mc.use_nesterov = h.nesterov;
  const T a = static_cast<T>(h.a), b = static_cast<T>(h.b), c = static_cast<T>(h.c);
  for (const MuonTensor<T>& x : ts) {
    const std::size_t R = x.rows, C = x.cols, n = R * C, r = std::min(R, C);
    if (n == 0) continue;
    const bool wide = R <= C;
    std::vector<T>& ws = workspace<T>();
    if (ws.size() < 2 * n + 2 * r * r) ws.resize(2 * n + 2 * r * r);
    T* y = ws.data();
    T* y2 = y + n;
    T* gram = y2 + n;
    T* poly = gram + r * r;

    chunked(n, [&](std::size_t o, std::size_t l) {
      k.muon_momentum(l, x.g + o, x.buf + o, y + o, mc);
    });
    double sums[2];
    abs_sq_sums(n, y, sums);
    const T scale = static_cast<T>(std::max(std::sqrt(sums[1]), h.eps));
    chunked(n, [&](std::size_t o, std::size_t l) { k.div(l, y + o, scale); });

    for (long long it = 0; it < h.ns_steps; ++it) {
      if (wide)  // Y Y^T
        symmetric_product(r, C, static_cast<const T*>(y), C, false, static_cast<const T*>(y), C,
                          true, gram);
      else  // Y^T Y
        symmetric_product(r, R, static_cast<const T*>(y), C, true, static_cast<const T*>(y), C,
                          false, gram);
      symmetric_product(r, r, static_cast<const T*>(gram), r, false, static_cast<const T*>(gram), r,
                        false, poly);
      chunked(r * r, [&](std::size_t o, std::size_t l) {
        k.axpby(l, b, gram + o, c, poly + o, poly + o);
      });
      chunked(n,
              [&](std::size_t o, std::size_t l) { k.axpby(l, a, y + o, T(0), nullptr, y2 + o); });
      GemmArgs<T> g = wide ? gemm_args(R, C, R, static_cast<const T*>(poly), R, false,
                                       static_cast<const T*>(y), C, false, y2, C)
                           : gemm_args(R, C, C, static_cast<const T*>(y), C, false,
                                       static_cast<const T*>(poly), C, true, y2, C);
      g.accumulate = true;
      gemm(g);
      std::swap(y, y2);
    }

    const double ratio = h.adjust_lr == MuonAdjustLr::match_rms_adamw
                             ? 0.2 * std::sqrt(static_cast<double>(std::max(R, C)))
                             : std::sqrt(std::max(1.0, static_cast<double>(R) / C));
    const T decay = static_cast<T>(1.0 - h.lr * h.weight_decay);
    const T neg_lr = static_cast<T>(-(h.lr * ratio));
    chunked(n, [&](std::size_t o, std::size_t l) {
      k.axpby(l, decay, x.p + o, neg_lr, y + o, x.p + o);
    });
  }
}

template void muon_step<float>(const std::vector<MuonTensor<float>>&, const MuonHyper&);
template void muon_step<double>(const std::vector<MuonTensor<double>>&, const MuonHyper&);

}  // namespace cg
