// The loops around the microkernel (BLIS's five loops), the thread partition and the packing
// scratch buffers.
//
// Scratch: each thread keeps two 64-byte-aligned buffers (packed A block, packed B block) in
// thread_local storage, grown on demand and never shrunk, so repeated calls of the same size
// reuse the same pages (no page faults, no allocation after the first call). They hold only
// packed copies of the inputs, fully rewritten before use: nothing in them affects results.
#include <algorithm>
#include <cstdlib>
#include <new>

#include "common/parallel.h"
#include "nn/driver.h"

namespace cg {
namespace {

// Below this many multiply-adds (m*n*k), one thread.
constexpr std::size_t kMinParallelWork = std::size_t(1) << 18;

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(p_); }
  void* get(std::size_t bytes) {
    if (bytes > cap_) {
      std::free(p_);
      cap_ = (bytes + 4095) / 4096 * 4096;
      p_ = std::aligned_alloc(64, cap_);
      if (!p_) {
        cap_ = 0;
        throw std::bad_alloc();
      }
    }
    return p_;
  }

 private:
  void* p_ = nullptr;
  std::size_t cap_ = 0;
};

template <class T>
T* scratch(int slot, std::size_t elems) {
  thread_local AlignedBuffer buf[2];
  return static_cast<T*>(buf[slot].get(elems * sizeof(T)));
}

std::size_t round_up(std::size_t x, std::size_t to) { return (x + to - 1) / to * to; }

// The K block size: KC, rebalanced so the blocks are of near-equal size (784 -> 4 x 196 rather
// than 3 x 256 + 16). Depends on K and the ISA only, never on the thread count.
std::size_t balanced_kc(std::size_t k, std::size_t kc) {
  if (k <= kc) return k;
  const std::size_t blocks = (k + kc - 1) / kc;
  return (k + blocks - 1) / blocks;
}

// C[m0:m1, n0:n1] on the calling thread.
template <class T>
void gemm_block(const NnKernels<T>& kr, const GemmArgs<T>& g, std::size_t m0, std::size_t m1,
                std::size_t n0, std::size_t n1) {
  const GemmBlocking& bl = kr.blocking;
  const std::size_t kc_max = balanced_kc(g.k, bl.kc);
  T* bbuf = scratch<T>(1, round_up(std::min(bl.nc, n1 - n0), bl.nr) * std::max<std::size_t>(kc_max, 1));
  T* abuf = scratch<T>(0, round_up(std::min(bl.mc, m1 - m0), bl.mr) * std::max<std::size_t>(kc_max, 1));
  for (std::size_t jc = n0; jc < n1; jc += bl.nc) {
    const std::size_t nc = std::min(bl.nc, n1 - jc);
    // One pass when k == 0 (C = act(beta*C + bias)); K blocks of kc_max otherwise.
    for (std::size_t pc = 0; pc == 0 || pc < g.k; pc += std::max<std::size_t>(kc_max, 1)) {
      const std::size_t kc = std::min(kc_max, g.k - pc);
      const T* b = g.trans_b ? g.b + jc * g.ldb + pc : g.b + pc * g.ldb + jc;
      kr.pack_b(kc, nc, b, g.ldb, g.trans_b, bbuf);
      MicroEpilogue<T> e;
      e.load_c = g.accumulate || pc > 0;
      e.last = pc + kc >= g.k;
      e.act = g.act;
      e.slope = g.slope;
      for (std::size_t ic = m0; ic < m1; ic += bl.mc) {
        const std::size_t mc = std::min(bl.mc, m1 - ic);
        const T* a = g.trans_a ? g.a + pc * g.lda + ic : g.a + ic * g.lda + pc;
        kr.pack_a(mc, kc, a, g.lda, g.trans_a, abuf);
        for (std::size_t jr = 0; jr < nc; jr += bl.nr) {
          const std::size_t n = std::min(bl.nr, nc - jr);
          e.bias = g.bias ? g.bias + jc + jr : nullptr;
          const T* bp = bbuf + jr * kc;
          for (std::size_t ir = 0; ir < mc; ir += bl.mr) {
            const std::size_t m = std::min(bl.mr, mc - ir);
            kr.micro(kc, abuf + ir * kc, bp, g.c + (ic + ir) * g.ldc + jc + jr, g.ldc, m, n, e);
          }
        }
      }
    }
  }
}

}  // namespace

template <class T>
void gemm(const GemmArgs<T>& g) {
  if (g.m == 0 || g.n == 0) return;
  const NnKernels<T>& kr = nn_kernels<T>();
  const GemmBlocking& bl = kr.blocking;
  const int threads = get_num_threads();
  const std::size_t work = g.m * g.n * std::max<std::size_t>(g.k, 1);
  const std::size_t pm = (g.m + bl.mr - 1) / bl.mr, pn = (g.n + bl.nr - 1) / bl.nr;
  // Each part owns whole micro-tiles of C. Split the dimension whose packed operand is cheaper
  // to duplicate: columns (every part packs all of A) when m <= n, rows otherwise.
  const std::size_t nt = static_cast<std::size_t>(threads);
  const bool split_n = (g.m <= g.n && pn >= nt) || pm < nt;
  const std::size_t panels = split_n ? pn : pm;
  const std::size_t parts =
      (threads > 1 && work >= kMinParallelWork) ? std::min<std::size_t>(threads, panels) : 1;
  if (parts <= 1) {
    gemm_block(kr, g, 0, g.m, 0, g.n);
    return;
  }
  parallel_for(parts, work, 0, [&](std::size_t t) {
    const std::size_t p0 = panels * t / parts, p1 = panels * (t + 1) / parts;
    if (split_n)
      gemm_block(kr, g, 0, g.m, p0 * bl.nr, std::min(g.n, p1 * bl.nr));
    else
      gemm_block(kr, g, p0 * bl.mr, std::min(g.m, p1 * bl.mr), 0, g.n);
  });
}

template <class T>
GemmBlocking gemm_blocking() {
  return nn_kernels<T>().blocking;
}

template <class T>
void activation(std::size_t n, const T* x, T* out, Act act, T slope) {
  nn_kernels<T>().activation(n, x, out, act, slope);
}

template void gemm<float>(const GemmArgs<float>&);
template void gemm<double>(const GemmArgs<double>&);
template GemmBlocking gemm_blocking<float>();
template GemmBlocking gemm_blocking<double>();
template void activation<float>(std::size_t, const float*, float*, Act, float);
template void activation<double>(std::size_t, const double*, double*, Act, double);

}  // namespace cg
