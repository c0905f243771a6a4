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

// The epilogue of the K block [pc, pc + kc): accumulate into C after the first block (or with
// beta = 1); bias and activation on the last block only (e.bias is set per micro-panel).
template <class T>
MicroEpilogue<T> k_block_epilogue(const GemmArgs<T>& g, std::size_t pc, std::size_t kc) {
  MicroEpilogue<T> e;
  e.load_c = g.accumulate || pc > 0;
  e.last = pc + kc >= g.k;
  e.act = g.act;
  e.slope = g.slope;
  return e;
}

// op(A)'s element (i, k) and op(B)'s element (k, j): where a packing of a block starts.
template <class T>
const T* a_at(const GemmArgs<T>& g, std::size_t i, std::size_t k) {
  return g.trans_a ? g.a + k * g.lda + i : g.a + i * g.lda + k;
}
template <class T>
const T* b_at(const GemmArgs<T>& g, std::size_t k, std::size_t j) {
  return g.trans_b ? g.b + j * g.ldb + k : g.b + k * g.ldb + j;
}

// The macro-kernel: C[ic:ic+mc, jc:jc+nc] over one K block of length kc, from a packed A block
// `ap` (micro-panels of mr x kc) and a packed B block `bp` (micro-panels of kc x nr), through the
// epilogue e (its bias is set per micro-panel of columns).
template <class T>
void macro_kernel(const NnKernels<T>& kr, const GemmArgs<T>& g, MicroEpilogue<T> e, std::size_t kc,
                  const T* ap, std::size_t ic, std::size_t mc, const T* bp, std::size_t jc,
                  std::size_t nc) {
  const GemmBlocking& bl = kr.blocking;
  for (std::size_t jr = 0; jr < nc; jr += bl.nr) {
    e.bias = g.bias ? g.bias + jc + jr : nullptr;
    for (std::size_t ir = 0; ir < mc; ir += bl.mr)
      kr.micro(kc, ap + ir * kc, bp + jr * kc, g.c + (ic + ir) * g.ldc + jc + jr, g.ldc,
               std::min(bl.mr, mc - ir), std::min(bl.nr, nc - jr), e);
  }
}

// C[m0:m1, n0:n1] on the calling thread.
template <class T>
void gemm_block(const NnKernels<T>& kr, const GemmArgs<T>& g, std::size_t m0, std::size_t m1,
                std::size_t n0, std::size_t n1) {
  const GemmBlocking& bl = kr.blocking;
  const std::size_t kc_max = balanced_kc(g.k, bl.kc);
  T* bbuf =
      scratch<T>(1, round_up(std::min(bl.nc, n1 - n0), bl.nr) * std::max<std::size_t>(kc_max, 1));
  T* abuf =
      scratch<T>(0, round_up(std::min(bl.mc, m1 - m0), bl.mr) * std::max<std::size_t>(kc_max, 1));
  for (std::size_t jc = n0; jc < n1; jc += bl.nc) {
    const std::size_t nc = std::min(bl.nc, n1 - jc);
    // One pass when k == 0 (C = act(beta*C + bias)); K blocks of kc_max otherwise.
    for (std::size_t pc = 0; pc == 0 || pc < g.k; pc += std::max<std::size_t>(kc_max, 1)) {
      const std::size_t kc = std::min(kc_max, g.k - pc);
      kr.pack_b(kc, nc, b_at(g, pc, jc), g.ldb, g.trans_b, bbuf);
      const MicroEpilogue<T> e = k_block_epilogue(g, pc, kc);
      for (std::size_t ic = m0; ic < m1; ic += bl.mc) {
        const std::size_t mc = std::min(bl.mc, m1 - ic);
        kr.pack_a(mc, kc, a_at(g, ic, pc), g.lda, g.trans_a, abuf);
        macro_kernel(kr, g, e, kc, abuf, ic, mc, bbuf, jc, nc);
      }
    }
  }
}

// Up to this many threads, each thread packs the operand the parts of C share itself, once
// (gemm_split_dynamic, else gemm_split): no synchronization inside the call. Measured on a 2-core
// VM at the layer shapes: the static split as fast as the shared-pack schemes below while the
// machine is quiet, up to 1.3x faster while its cores are intermittently taken by other work
// (each barrier then waits for the slowest core); dynamic items over the static split: epochs of
// the 784-256-128-10 MLP 3-6% faster (median of interleaved epochs in one process).
constexpr int kMaxSplitThreads = 4;

// The partition of C for up to kMaxSplitThreads threads: whole micro-panels along N (each
// thread packs all of A) or along M (each thread packs all of B), whichever duplicates less
// packing; not ok when neither dimension has two micro-panels per thread.
struct SplitPlan {
  bool ok = false, along_n = false;
  std::size_t units = 0, unit = 0, len = 0;  // micro-panels, their width, the split dimension
};

template <class T>
SplitPlan split_plan(const GemmBlocking& bl, const GemmArgs<T>& g, std::size_t threads) {
  SplitPlan p;
  const std::size_t nu = ceil_div(g.n, bl.nr), mu = ceil_div(g.m, bl.mr);
  const bool n_ok = nu >= 2 * threads, m_ok = mu >= 2 * threads;
  p.ok = n_ok || m_ok;
  p.along_n = n_ok && (!m_ok || g.m <= g.n);  // duplicates m*k rather than k*n
  p.units = p.along_n ? nu : mu;
  p.unit = p.along_n ? bl.nr : bl.mr;
  p.len = p.along_n ? g.n : g.m;
  return p;
}

// Static split: one contiguous part of C per thread. False (nothing done) when not ok.
template <class T>
bool gemm_split(const NnKernels<T>& kr, const GemmArgs<T>& g, int nt) {
  const std::size_t threads = static_cast<std::size_t>(nt);
  const SplitPlan p = split_plan(kr.blocking, g, threads);
  if (!p.ok) return false;
  // One contiguous part of C per thread; a part that a descheduled thread has not claimed is
  // run by another.
  parallel_parts(threads, nt, [&](std::size_t i, int) {
    const std::size_t lo = std::min(p.len, p.units * i / threads * p.unit);
    const std::size_t hi = std::min(p.len, p.units * (i + 1) / threads * p.unit);
    if (lo >= hi) return;
    if (p.along_n)
      gemm_block(kr, g, 0, g.m, lo, hi);
    else
      gemm_block(kr, g, lo, hi, 0, g.n);
  });
  return true;
}

// The split with dynamic work items: when the operand that a static split duplicates fits
// kDupBytes fully packed (all K blocks), each thread packs all of it once, then takes items of a
// few micro-panels of the other dimension as they come (a thread the OS delays leaves its share
// to the others), running all K blocks of an item in order. The same partition test and packing
// as gemm_split; false (nothing done) when it does not apply.
constexpr std::size_t kDupBytes = std::size_t(512) << 10;

template <class T>
bool gemm_split_dynamic(const NnKernels<T>& kr, const GemmArgs<T>& g, int nt) {
  const GemmBlocking& bl = kr.blocking;
  const std::size_t threads = static_cast<std::size_t>(nt);
  const SplitPlan p = split_plan(bl, g, threads);
  if (!p.ok || g.k == 0) return false;
  const bool along_n = p.along_n;
  const std::size_t kc_max = balanced_kc(g.k, bl.kc), kblocks = ceil_div(g.k, kc_max);
  // The duplicated operand: all of A (along N) or all of B (along M), every K block.
  const std::size_t dup_len = along_n ? round_up(g.m, bl.mr) : round_up(g.n, bl.nr);
  if ((along_n ? g.m > bl.mc : g.n > bl.nc) || dup_len * g.k * sizeof(T) > kDupBytes) return false;
  const std::size_t per_item = std::max<std::size_t>(1, p.units / (4 * threads));
  const std::size_t items = ceil_div(p.units, per_item), item_len = per_item * p.unit;
  // Each participant packs the duplicated operand once, on the first item it claims.
  T* dups[kMaxParallelThreads] = {};
  parallel_parts(items, nt, [&](std::size_t it, int slot) {
    T*& dup = dups[slot];
    if (!dup) {
      dup = scratch<T>(0, dup_len * g.k);
      for (std::size_t kb = 0; kb < kblocks; ++kb) {
        const std::size_t pc = kb * kc_max, kc = std::min(kc_max, g.k - pc);
        if (along_n)
          kr.pack_a(g.m, kc, a_at(g, 0, pc), g.lda, g.trans_a, dup + dup_len * pc);
        else
          kr.pack_b(kc, g.n, b_at(g, pc, 0), g.ldb, g.trans_b, dup + dup_len * pc);
      }
    }
    T* own = scratch<T>(1, item_len * kc_max);
    const std::size_t lo = it * item_len;
    const std::size_t len = std::min(item_len, p.len - lo);
    for (std::size_t kb = 0; kb < kblocks; ++kb) {
      const std::size_t pc = kb * kc_max, kc = std::min(kc_max, g.k - pc);
      const MicroEpilogue<T> e = k_block_epilogue(g, pc, kc);
      const T* dk = dup + dup_len * pc;
      if (along_n) {  // columns [lo, lo + len) of C; A packed in dk
        kr.pack_b(kc, len, b_at(g, pc, lo), g.ldb, g.trans_b, own);
        macro_kernel(kr, g, e, kc, dk, 0, g.m, own, lo, len);
      } else {  // rows [lo, lo + len) of C; B packed in dk
        kr.pack_a(len, kc, a_at(g, lo, pc), g.lda, g.trans_a, own);
        macro_kernel(kr, g, e, kc, own, lo, len, dk, 0, g.n);
      }
    }
  });
  return true;
}

// Work items of whole micro-panels covering `panels` of them: about 8 per thread (dynamic
// scheduling then absorbs a thread that the OS delays), at most `cap` panels each.
std::size_t panels_per_item(std::size_t panels, std::size_t nt, std::size_t cap) {
  return std::max<std::size_t>(1, std::min(cap, ceil_div(panels, 8 * nt)));
}

// Chunk of the packing loops: about 4 grabs per thread (few atomics, and a thread that the OS
// delays leaves its share to the others).
std::size_t pack_chunk(std::size_t items, int nt) {
  return std::max<std::size_t>(1, ceil_div(items, 4 * static_cast<std::size_t>(nt)));
}

// Threaded GEMM with the packed A shared: for each MC block of rows the threads pack A for a
// group of K blocks together (up to kSharedA bytes, so the group stays in a core's L2), then
// take column strips of C dynamically; a strip packs its own B for each K block of the group
// and runs the microkernels, so its C tile stays in cache across the K blocks. Every element of
// C is still computed by one thread in the same K order.
constexpr std::size_t kSharedA = std::size_t(256) << 10;

template <class T>
void gemm_shared_a(const NnKernels<T>& kr, const GemmArgs<T>& g, int nt) {
  const GemmBlocking& bl = kr.blocking;
  const std::size_t kc_max = std::max<std::size_t>(balanced_kc(g.k, bl.kc), 1);
  const std::size_t kblocks = std::max<std::size_t>(ceil_div(g.k, kc_max), 1);
  const std::size_t mcap = std::min(bl.mc, round_up(g.m, bl.mr)), ablock = mcap * kc_max;
  const std::size_t fit = kSharedA / (ablock * sizeof(T));
  const std::size_t group = std::max<std::size_t>(1, std::min(kblocks, fit));
  const std::size_t sp = panels_per_item(ceil_div(g.n, bl.nr), nt, bl.nc / bl.nr);
  const std::size_t sw = sp * bl.nr, strips = ceil_div(g.n, sw);
  T* abuf = scratch<T>(0, ablock * group);
  for (std::size_t ic = 0; ic < g.m; ic += bl.mc) {
    const std::size_t mc = std::min(bl.mc, g.m - ic), apanels = ceil_div(mc, bl.mr);
    for (std::size_t kb0 = 0; kb0 < kblocks; kb0 += group) {
      const std::size_t kbn = std::min(group, kblocks - kb0), panels = kbn * apanels;
      const std::size_t chunk = pack_chunk(panels, nt);
      parallel_parts(ceil_div(panels, chunk), nt, [&](std::size_t part, int) {
        for (std::size_t it = part * chunk; it < std::min(panels, (part + 1) * chunk); ++it) {
          const std::size_t kb = it / apanels, p = it % apanels;
          const std::size_t pc = (kb0 + kb) * kc_max, kc = std::min(kc_max, g.k - pc);
          const std::size_t i = ic + p * bl.mr;
          kr.pack_a(std::min(bl.mr, ic + mc - i), kc, a_at(g, i, pc), g.lda, g.trans_a,
                    abuf + kb * ablock + p * bl.mr * kc);
        }
      });
      parallel_parts(strips, nt, [&](std::size_t s, int) {
        T* mine = scratch<T>(1, sw * kc_max);  // this thread's B strip
        const std::size_t jc = s * sw, nc = std::min(sw, g.n - jc);
        for (std::size_t kb = 0; kb < kbn; ++kb) {
          const std::size_t pc = (kb0 + kb) * kc_max, kc = std::min(kc_max, g.k - pc);
          kr.pack_b(kc, nc, b_at(g, pc, jc), g.ldb, g.trans_b, mine);
          macro_kernel(kr, g, k_block_epilogue(g, pc, kc), kc, abuf + kb * ablock, ic, mc, mine, jc,
                       nc);
        }
      });
    }
  }
}

// The transpose of the above: the packed B block (KC x NC) is shared and packed together; the
// threads take row strips of C dynamically, each packing its own strip of A.
template <class T>
void gemm_shared_b(const NnKernels<T>& kr, const GemmArgs<T>& g, int nt) {
  const GemmBlocking& bl = kr.blocking;
  const std::size_t kc_max = std::max<std::size_t>(balanced_kc(g.k, bl.kc), 1);
  const std::size_t ncap = std::min(bl.nc, round_up(g.n, bl.nr));
  const std::size_t sp = panels_per_item(ceil_div(g.m, bl.mr), nt, bl.mc / bl.mr);
  const std::size_t sh = sp * bl.mr, strips = ceil_div(g.m, sh);
  T* bbuf = scratch<T>(1, ncap * kc_max);
  for (std::size_t jc = 0; jc < g.n; jc += bl.nc) {
    const std::size_t nc = std::min(bl.nc, g.n - jc), bpanels = ceil_div(nc, bl.nr);
    for (std::size_t pc = 0; pc == 0 || pc < g.k; pc += kc_max) {
      const std::size_t kc = std::min(kc_max, g.k - pc);
      const std::size_t chunk = pack_chunk(bpanels, nt);
      parallel_parts(ceil_div(bpanels, chunk), nt, [&](std::size_t part, int) {
        for (std::size_t p = part * chunk; p < std::min(bpanels, (part + 1) * chunk); ++p) {
          const std::size_t j = jc + p * bl.nr;
          kr.pack_b(kc, std::min(bl.nr, jc + nc - j), b_at(g, pc, j), g.ldb, g.trans_b,
                    bbuf + p * bl.nr * kc);
        }
      });
      const MicroEpilogue<T> e = k_block_epilogue(g, pc, kc);
      parallel_parts(strips, nt, [&](std::size_t s, int) {
        T* mine = scratch<T>(0, sh * kc_max);  // this thread's A strip
        const std::size_t ic = s * sh, mc = std::min(sh, g.m - ic);
        kr.pack_a(mc, kc, a_at(g, ic, pc), g.lda, g.trans_a, mine);
        macro_kernel(kr, g, e, kc, mine, ic, mc, bbuf, jc, nc);
      });
    }
  }
}

}  // namespace

template <class T>
void gemm(const GemmArgs<T>& g) {
  if (g.m == 0 || g.n == 0) return;
  const NnKernels<T>& kr = nn_kernels<T>();
  const std::size_t work = g.m * g.n * std::max<std::size_t>(g.k, 1);
  const int nt = get_num_threads();
  if (nt > 1 && work >= kGemmMinParallelWork) {
    if (nt <= kMaxSplitThreads && (gemm_split_dynamic(kr, g, nt) || gemm_split(kr, g, nt))) return;
    const GemmBlocking& bl = kr.blocking;
    // More threads (or too few micro-panels to split): the threads share one packed operand.
    // Elements packed by each scheme: the shared operand once, the other once per block of the
    // shared one. Ties go to sharing A (the row count of layer GEMMs is the batch).
    const std::size_t cost_a = g.m * g.k + ceil_div(g.m, bl.mc) * g.k * g.n;
    const std::size_t cost_b = g.k * g.n + ceil_div(g.n, bl.nc) * g.m * g.k;
    if (cost_a <= cost_b)
      gemm_shared_a(kr, g, nt);
    else
      gemm_shared_b(kr, g, nt);
    return;
  }
  gemm_block(kr, g, 0, g.m, 0, g.n);
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
