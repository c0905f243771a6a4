// GEMM microkernel and packing, written once on Vec<T> and compiled per ISA (see nn/kernels.h).
//
// The microkernel keeps an MR x NR tile of C in MR*NV vector registers (NR = NV lanes-vectors),
// and per step of k loads NV vectors of the packed B micro-panel and broadcasts MR elements of the
// packed A micro-panel. Packed panels are zero-padded, so the K loop never branches on edges; the
// store owns the partial tiles (rows past m skipped, columns past n masked with storen).
#pragma once
#include <type_traits>

#include "common/simd.h"
#include "nn/activations.h"
#include "nn/kernels.h"

namespace cg {
namespace CG_NS {

// Register tile (MR rows, NV vectors per row) and cache blocking per ISA and dtype.
// Zen3/Skylake-class caches: a KC x NR B micro-panel stays in L1, an MC x KC A block in L2,
// the KC x NC B block in L3.
template <class T>
struct GemmTraits;
#if defined(CG_ISA_AVX512)
template <>
struct GemmTraits<float> {
  static constexpr std::size_t mr = 12, nv = 2, mc = 144, kc = 256, nc = 3072;
};
template <>
struct GemmTraits<double> {
  static constexpr std::size_t mr = 12, nv = 2, mc = 72, kc = 256, nc = 3072;
};
#elif defined(CG_ISA_AVX2)
template <>
struct GemmTraits<float> {
  static constexpr std::size_t mr = 6, nv = 2, mc = 144, kc = 256, nc = 4080;
};
template <>
struct GemmTraits<double> {
  static constexpr std::size_t mr = 6, nv = 2, mc = 72, kc = 256, nc = 4080;
};
#else
template <class T>
struct GemmTraits {
  static constexpr std::size_t mr = 4, nv = 4, mc = 64, kc = 256, nc = 1024;
};
#endif

template <class T>
constexpr std::size_t gemm_nr() {
  return GemmTraits<T>::nv * Vec<T>::N;
}

template <class T>
constexpr GemmBlocking gemm_blocking() {
  using G = GemmTraits<T>;
  static_assert(G::mc % G::mr == 0, "mc must be a multiple of mr");
  static_assert(G::nc % (G::nv * Vec<T>::N) == 0, "nc must be a multiple of nr");
  return {G::mr, gemm_nr<T>(), G::mc, G::kc, G::nc};
}

// GCC 12 with -fsanitize=undefined at -O2/-O3 miscompiles the variable-index reads b[v] of
// store_tile into b[NV-1] on the SIMD ISAs (VRP folds an induction variable that ivopts made the
// base of the address to its last value); tests/test_gemm_edges.py catches it. Unrolling the v
// loops completely keeps every index constant; normal builds of the SIMD ISAs already unroll
// them, and their object code is unchanged. The scalar ISA is unaffected and not forced.
#if defined(CG_ISA_SCALAR)
#define CG_UNROLL_V
#else
#define CG_UNROLL_V _Pragma("GCC unroll 16")
#endif

// Stores the tile through the epilogue; f is the activation (or identity).
template <class T, std::size_t MR, std::size_t NV, class F>
__attribute__((always_inline)) inline void store_tile(const Vec<T> (&acc)[MR][NV], T* c,
                                                      std::size_t ldc, std::size_t m, std::size_t n,
                                                      const MicroEpilogue<T>& e, F&& f) {
  using V = Vec<T>;
  constexpr std::size_t N = V::N;
  const bool bias = e.last && e.bias;
  std::size_t cols[NV];
  V b[NV];
  for (std::size_t v = 0; v < NV; ++v) {
    cols[v] = n > v * N ? (n - v * N < N ? n - v * N : N) : 0;
    b[v] = bias && cols[v] ? V::loadn(e.bias + v * N, cols[v]) : V::zero();
  }
  if (m == MR && n == NV * N) {
    for (std::size_t i = 0; i < MR; ++i) {
      CG_UNROLL_V
      for (std::size_t v = 0; v < NV; ++v) {
        T* p = c + i * ldc + v * N;
        V r = e.load_c ? V::load(p) + acc[i][v] : acc[i][v];
        if (bias) r = r + b[v];
        if (e.last) r = f(r);
        r.store(p);
      }
    }
    return;
  }
  for (std::size_t i = 0; i < m; ++i) {
    CG_UNROLL_V
    for (std::size_t v = 0; v < NV; ++v) {
      if (!cols[v]) break;
      T* p = c + i * ldc + v * N;
      V r = e.load_c ? V::loadn(p, cols[v]) + acc[i][v] : acc[i][v];
      if (bias) r = r + b[v];
      if (e.last) r = f(r);
      r.storen(p, cols[v]);
    }
  }
}
#undef CG_UNROLL_V

// Stores the finished tile through the epilogue's activation.
template <class T, std::size_t MR, std::size_t NV>
__attribute__((always_inline)) inline void store_tile_act(const Vec<T> (&acc)[MR][NV], T* c,
                                                          std::size_t ldc, std::size_t m,
                                                          std::size_t n,
                                                          const MicroEpilogue<T>& e) {
  using V = Vec<T>;
  const V slope = V::set1(e.slope);
  switch (e.last ? e.act : Act::linear) {
    case Act::relu:
      store_tile<T, MR, NV>(acc, c, ldc, m, n, e, [](V x) { return max(x, V::zero()); });
      break;
    case Act::leaky_relu:
      store_tile<T, MR, NV>(acc, c, ldc, m, n, e,
                            [slope](V x) { return select_gt(x, V::zero(), x, x * slope); });
      break;
    case Act::sigmoid:
      store_tile<T, MR, NV>(acc, c, ldc, m, n, e, [](V x) { return sigmoid_v<T>(x); });
      break;
    case Act::tanh:
      store_tile<T, MR, NV>(acc, c, ldc, m, n, e, [](V x) { return tanh_v<T>(x); });
      break;
    default:
      store_tile<T, MR, NV>(acc, c, ldc, m, n, e, [](V x) { return x; });
      break;
  }
}

#if defined(CG_ISA_AVX2)
// The AVX2 6-row K loops in assembly, four steps of k per iteration (iters = kc / 4): float
// (6x16; X "s", 4-byte elements) and double (6x8; X "d", 8-byte elements). GCC spills
// accumulators of the same loop written with intrinsics (12 accumulators, 2 B vectors and 1
// broadcast fill 15 of the 16 registers). Per step k: 2 loads of B (64 bytes on), 6 broadcasts
// of A (6 elements on), 12 FMAs, in the intrinsics step's order; the A panel line 16 steps ahead
// is prefetched (prefetches never fault). B goes through ymm13-14 and the broadcast through
// ymm15 (an asm has at most 30 operands).
// clang-format off
#define CG_ROW(X, ES, K, I, C0, C1)                                  \
  "vbroadcasts" X " " ES "*6*" K "+" ES "*" I "(%[a]), %%ymm15\n\t"  \
  "vfmadd231p" X " %%ymm13, %%ymm15, %t[" C0 "]\n\t"                 \
  "vfmadd231p" X " %%ymm14, %%ymm15, %t[" C1 "]\n\t"
#define CG_STEP(X, ES, K)                                            \
  "vmovup" X " 64*" K "(%[b]), %%ymm13\n\t"                          \
  "vmovup" X " 64*" K "+32(%[b]), %%ymm14\n\t"                       \
  CG_ROW(X, ES, K, "0", "c00", "c01") CG_ROW(X, ES, K, "1", "c10", "c11") \
  CG_ROW(X, ES, K, "2", "c20", "c21") CG_ROW(X, ES, K, "3", "c30", "c31") \
  CG_ROW(X, ES, K, "4", "c40", "c41") CG_ROW(X, ES, K, "5", "c50", "c51")
#define CG_AVX2_TILE(NAME, T, VT, X, ES)                                                        \
  inline void NAME(std::size_t iters, const T* a, const T* b, Vec<T> (&acc)[6][2]) {         \
    VT c00 = acc[0][0].v, c01 = acc[0][1].v, c10 = acc[1][0].v, c11 = acc[1][1].v;           \
    VT c20 = acc[2][0].v, c21 = acc[2][1].v, c30 = acc[3][0].v, c31 = acc[3][1].v;           \
    VT c40 = acc[4][0].v, c41 = acc[4][1].v, c50 = acc[5][0].v, c51 = acc[5][1].v;           \
    if (iters) {                                                                              \
      __asm__ volatile(                                                                       \
          "1:\n\t"                                                                            \
          "prefetcht0 " ES "*96(%[a])\n\t"                                                    \
          CG_STEP(X, ES, "0") CG_STEP(X, ES, "1") CG_STEP(X, ES, "2") CG_STEP(X, ES, "3")     \
          "add $" ES "*24, %[a]\n\t"                                                          \
          "add $256, %[b]\n\t"                                                                \
          "dec %[n]\n\t"                                                                      \
          "jnz 1b\n\t"                                                                        \
          : [a] "+r"(a), [b] "+r"(b), [n] "+r"(iters), [c00] "+x"(c00), [c01] "+x"(c01),     \
            [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21),               \
            [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41),               \
            [c50] "+x"(c50), [c51] "+x"(c51)                                                  \
          :                                                                                   \
          : "cc", "memory", "xmm13", "xmm14", "xmm15");                                       \
    }                                                                                         \
    acc[0][0].v = c00, acc[0][1].v = c01, acc[1][0].v = c10, acc[1][1].v = c11;              \
    acc[2][0].v = c20, acc[2][1].v = c21, acc[3][0].v = c30, acc[3][1].v = c31;              \
    acc[4][0].v = c40, acc[4][1].v = c41, acc[5][0].v = c50, acc[5][1].v = c51;              \
  }
CG_AVX2_TILE(avx2_tile6x16, float, __m256, "s", "4")
CG_AVX2_TILE(avx2_tile6x8d, double, __m256d, "d", "8")
#undef CG_AVX2_TILE
#undef CG_STEP
#undef CG_ROW
// clang-format on
#endif

// The tile's K loop: acc = sum over k < kc of A(:, k) B(k, :) for the first R rows of one packed
// A micro-panel (MR elements per k) and one packed B micro-panel (NR per k).
template <class T, std::size_t R, std::size_t NV, std::size_t MR>
__attribute__((always_inline)) inline void tile_product(std::size_t kc, const T* a, const T* b,
                                                        Vec<T> (&acc)[R][NV]) {
  using V = Vec<T>;
  constexpr std::size_t N = V::N, NR = NV * N;
  for (std::size_t i = 0; i < R; ++i)
    for (std::size_t v = 0; v < NV; ++v) acc[i][v] = V::zero();
  const auto step = [&](const T* ap, const T* bp) {
    V bv[NV];
    for (std::size_t v = 0; v < NV; ++v) bv[v] = V::load(bp + v * N);
    for (std::size_t i = 0; i < R; ++i) {
      const V av = V::set1(ap[i]);
      for (std::size_t v = 0; v < NV; ++v) acc[i][v] = fmadd(av, bv[v], acc[i][v]);
    }
  };
  std::size_t k = 0;
#if defined(CG_ISA_AVX2)
  if constexpr (R == 6 && MR == 6 && NV == 2) {
    k = kc / 4 * 4;
    if constexpr (std::is_same<T, float>::value)
      avx2_tile6x16(kc / 4, a, b, acc);
    else
      avx2_tile6x8d(kc / 4, a, b, acc);
    a += k * MR;
    b += k * NR;
  }
#endif
  for (; k + 4 <= kc; k += 4) {
    // The A micro-panel streams from L2: ask for the line 16 steps ahead (inside the panel).
    if (k + 16 < kc) __builtin_prefetch(a + 16 * MR);
    step(a, b);
    step(a + MR, b + NR);
    step(a + 2 * MR, b + 2 * NR);
    step(a + 3 * MR, b + 3 * NR);
    a += 4 * MR;
    b += 4 * NR;
  }
  for (; k < kc; ++k, a += MR, b += NR) step(a, b);
}

// The C tile's lines are fetched while the K loop runs.
template <class T>
__attribute__((always_inline)) inline void prefetch_c(T* c, std::size_t ldc, std::size_t m,
                                                      std::size_t n) {
  for (std::size_t i = 0; i < m; ++i) {
    __builtin_prefetch(c + i * ldc, 1);
    __builtin_prefetch(c + i * ldc + n - 1, 1);
  }
}

// The first R rows of the tile (m <= R).
template <class T, std::size_t R>
__attribute__((always_inline)) inline void micro_rows(std::size_t kc, const T* a, const T* b, T* c,
                                                      std::size_t ldc, std::size_t m, std::size_t n,
                                                      const MicroEpilogue<T>& e) {
  constexpr std::size_t MR = GemmTraits<T>::mr, NV = GemmTraits<T>::nv;
  Vec<T> acc[R][NV];
  tile_product<T, R, NV, MR>(kc, a, b, acc);
  store_tile_act<T, R, NV>(acc, c, ldc, m, n, e);
}

template <class T>
void micro_kernel(std::size_t kc, const T* a, const T* b, T* c, std::size_t ldc, std::size_t m,
                  std::size_t n, const MicroEpilogue<T>& e) {
  constexpr std::size_t MR = GemmTraits<T>::mr;
  prefetch_c(c, ldc, m, n);
  // The last panel of rows is often partial (a batch of 128 rows is 21 panels of 6 and one of
  // 2): it computes a third or two thirds of the tile when that holds its rows. Each row's sums
  // are the same whatever the tile height.
  if (m <= MR / 3)
    micro_rows<T, MR / 3>(kc, a, b, c, ldc, m, n, e);
  else if (m <= 2 * MR / 3)
    micro_rows<T, 2 * MR / 3>(kc, a, b, c, ldc, m, n, e);
  else
    micro_rows<T, MR>(kc, a, b, c, ldc, m, n, e);
}

#if defined(CG_ISA_AVX2)
// AVX2 transposing copies for the float packs (A by rows, B transposed): 8x8 register
// transposes instead of element-by-element strided copies. Pure data movement.
inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// dst[k*6 + i] = row[i][k] for k < kc (a full 6-row A micro-panel).
inline void pack_rows6(const float* const row[6], std::size_t kc, float* dst) {
  const __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
  std::size_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 r[8];
    for (int i = 0; i < 6; ++i) r[i] = _mm256_loadu_ps(row[i] + k);
    r[6] = r[7] = _mm256_setzero_ps();
    transpose8(r);
    // Each 8-wide store spills 2 lanes into the next k, rewritten by the next store; the last
    // k of the panel is stored masked.
    for (std::size_t q = 0; q < 8; ++q) {
      if (k + q + 1 < kc)
        _mm256_storeu_ps(dst + (k + q) * 6, r[q]);
      else
        _mm256_maskstore_ps(dst + (k + q) * 6, six, r[q]);
    }
  }
  for (; k < kc; ++k)
    for (int i = 0; i < 6; ++i) dst[k * 6 + i] = row[i][k];
}

// dst[k*6 + i] = a[k*lda + i] for i < 6, k < kc (a full A micro-panel of a transposed A): one
// 4-wide and one 2-wide move per k.
inline void pack_cols6_t(const float* a, std::size_t lda, std::size_t kc, float* dst) {
  for (std::size_t k = 0; k < kc; ++k, a += lda, dst += 6) {
    _mm_storeu_ps(dst, _mm_loadu_ps(a));
    _mm_storel_pi(reinterpret_cast<__m64*>(dst + 4),
                  _mm_loadl_pi(_mm_setzero_ps(), reinterpret_cast<const __m64*>(a + 4)));
  }
}

// dst[k*16 + j] = b[j*ldb + k] for j < 16, k < kc (a full transposed B micro-panel).
inline void pack_cols16_t(const float* b, std::size_t ldb, std::size_t kc, float* dst) {
  std::size_t k = 0;
  for (; k + 8 <= kc; k += 8)
    for (std::size_t h = 0; h < 16; h += 8) {
      __m256 r[8];
      for (std::size_t j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(b + (h + j) * ldb + k);
      transpose8(r);
      for (std::size_t q = 0; q < 8; ++q) _mm256_storeu_ps(dst + (k + q) * 16 + h, r[q]);
    }
  for (; k < kc; ++k)
    for (std::size_t j = 0; j < 16; ++j) dst[k * 16 + j] = b[j * ldb + k];
}
#endif

template <class T>
void pack_a_kernel(std::size_t mc, std::size_t kc, const T* a, std::size_t lda, bool trans,
                   T* dst) {
  constexpr std::size_t MR = GemmTraits<T>::mr;
  for (std::size_t i0 = 0; i0 < mc; i0 += MR) {
    const std::size_t rows = mc - i0 < MR ? mc - i0 : MR;
    if (trans) {
      const T* src = a + i0;
#if defined(CG_ISA_AVX2)
      if constexpr (std::is_same<T, float>::value && MR == 6) {
        if (rows == MR) {
          pack_cols6_t(src, lda, kc, dst);
          dst += MR * kc;
          continue;
        }
      }
#endif
      for (std::size_t k = 0; k < kc; ++k, dst += MR) {
        const T* s = src + k * lda;
        for (std::size_t i = 0; i < rows; ++i) dst[i] = s[i];
        for (std::size_t i = rows; i < MR; ++i) dst[i] = T(0);
      }
    } else {
      const T* row[MR];
      for (std::size_t i = 0; i < MR; ++i) row[i] = a + (i0 + (i < rows ? i : 0)) * lda;
      if (rows == MR) {
#if defined(CG_ISA_AVX2)
        if constexpr (std::is_same<T, float>::value && MR == 6) {
          pack_rows6(row, kc, dst);
          dst += MR * kc;
          continue;
        }
#endif
        for (std::size_t k = 0; k < kc; ++k, dst += MR)
          for (std::size_t i = 0; i < MR; ++i) dst[i] = row[i][k];
      } else {
        for (std::size_t k = 0; k < kc; ++k, dst += MR) {
          for (std::size_t i = 0; i < rows; ++i) dst[i] = row[i][k];
          for (std::size_t i = rows; i < MR; ++i) dst[i] = T(0);
        }
      }
    }
  }
}

template <class T>
void pack_b_kernel(std::size_t kc, std::size_t nc, const T* b, std::size_t ldb, bool trans,
                   T* dst) {
  using V = Vec<T>;
  constexpr std::size_t NV = GemmTraits<T>::nv, N = V::N, NR = NV * N;
  if (!trans) {  // full panels row by row: each row of B is read once, front to back
    const std::size_t full = nc / NR;
    for (std::size_t k = 0; k < kc; ++k) {
      const T* src = b + k * ldb;
      T* d = dst + k * NR;
      for (std::size_t p = 0; p < full; ++p, src += NR, d += kc * NR)
        for (std::size_t v = 0; v < NV; ++v) V::load(src + v * N).store(d + v * N);
    }
    dst += full * kc * NR;
    b += full * NR;
    nc -= full * NR;
  }
  for (std::size_t j0 = 0; j0 < nc; j0 += NR) {
    const std::size_t cols = nc - j0 < NR ? nc - j0 : NR;
#if defined(CG_ISA_AVX2)
    if constexpr (std::is_same<T, float>::value && NR == 16) {
      if (trans && cols == NR) {
        pack_cols16_t(b + j0 * ldb, ldb, kc, dst);
        dst += kc * NR;
        continue;
      }
    }
#endif
    if (trans) {
      for (std::size_t j = 0; j < cols; ++j) {
        const T* s = b + (j0 + j) * ldb;
        for (std::size_t k = 0; k < kc; ++k) dst[k * NR + j] = s[k];
      }
      for (std::size_t j = cols; j < NR; ++j)
        for (std::size_t k = 0; k < kc; ++k) dst[k * NR + j] = T(0);
    } else if (cols == NR) {
      for (std::size_t k = 0; k < kc; ++k)
        for (std::size_t v = 0; v < NV; ++v)
          V::load(b + k * ldb + j0 + v * N).store(dst + k * NR + v * N);
    } else {
      for (std::size_t k = 0; k < kc; ++k)
        for (std::size_t v = 0; v < NV; ++v) {
          const std::size_t c0 = v * N;
          const V x = c0 < cols ? V::loadn(b + k * ldb + j0 + c0, cols - c0 < N ? cols - c0 : N)
                                : V::zero();
          x.store(dst + k * NR + c0);
        }
    }
    dst += kc * NR;
  }
}

}  // namespace CG_NS
}  // namespace cg
