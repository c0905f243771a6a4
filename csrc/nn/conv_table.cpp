// Compiled once per ISA (CMakeLists.txt globs csrc/nn/*_table.cpp): the packing of patch rows
// into the GEMM's A micro-panels (pure data movement: the same bits on every ISA).
// AVX-512 float (12-row panels): 16 columns at a time through a 16x16 register transpose;
// AVX2 float (6-row panels): the GEMM's own 8x8-transpose packer; otherwise element by element.
// And the depthwise convolution's per-pixel kernels, vectors across the channels.
#include <type_traits>

#include "nn/activations.h"
#include "nn/conv_kernels.h"
#include "nn/gemm.h"

namespace cg {
namespace CG_NS {
namespace {

#if defined(CG_ISA_AVX512)
// r[i] (row i, 16 columns) -> r[c] (column c, 16 rows).
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  // r[4q + s], 128-bit lane L: rows 4q..4q+3 of column 4L + s.
  __m512 out[16];
  for (int s = 0; s < 4; ++s) {
    const __m512 ab_lo = _mm512_shuffle_f32x4(r[s], r[4 + s], 0x44);
    const __m512 ab_hi = _mm512_shuffle_f32x4(r[s], r[4 + s], 0xEE);
    const __m512 cd_lo = _mm512_shuffle_f32x4(r[8 + s], r[12 + s], 0x44);
    const __m512 cd_hi = _mm512_shuffle_f32x4(r[8 + s], r[12 + s], 0xEE);
    out[s] = _mm512_shuffle_f32x4(ab_lo, cd_lo, 0x88);
    out[4 + s] = _mm512_shuffle_f32x4(ab_lo, cd_lo, 0xDD);
    out[8 + s] = _mm512_shuffle_f32x4(ab_hi, cd_hi, 0x88);
    out[12 + s] = _mm512_shuffle_f32x4(ab_hi, cd_hi, 0xDD);
  }
  for (int i = 0; i < 16; ++i) r[i] = out[i];
}

void pack_rows12(const float* const* rows, std::size_t len, float* dst) {
  for (std::size_t j = 0; j < len; j += 16) {
    const std::size_t n = len - j < 16 ? len - j : 16;
    const __mmask16 m = _cvtu32_mask16((1u << n) - 1u);
    __m512 r[16];
    for (int i = 0; i < 12; ++i) r[i] = _mm512_maskz_loadu_ps(m, rows[i] + j);
    for (int i = 12; i < 16; ++i) r[i] = _mm512_setzero_ps();
    transpose16(r);
    // Each 16-wide store spills 4 lanes into the next column, rewritten by the next store; the
    // run's last column is stored masked.
    for (std::size_t c = 0; c < n; ++c) {
      float* d = dst + (j + c) * 12;
      if (j + c + 1 < len)
        _mm512_storeu_ps(d, r[c]);
      else
        _mm512_mask_storeu_ps(d, 0x0FFF, r[c]);
    }
  }
}
#endif

template <class T>
void pack_rows_kernel(const T* const* rows, std::size_t len, T* dst) {
  constexpr std::size_t MR = GemmTraits<T>::mr;
#if defined(CG_ISA_AVX512)
  if constexpr (std::is_same<T, float>::value && MR == 12) {
    pack_rows12(rows, len, dst);
    return;
  }
#endif
#if defined(CG_ISA_AVX2)
  if constexpr (std::is_same<T, float>::value && MR == 6) {
    pack_rows6(rows, len, dst);
    return;
  }
#endif
  for (std::size_t j = 0; j < len; ++j, dst += MR)
    for (std::size_t r = 0; r < MR; ++r) dst[r] = rows[r][j];
}

template <class T>
void dw_forward_kernel(std::size_t c, std::size_t taps, const T* const* x, const T* const* w,
                       const T* bias, T* y, Act act, T slope) {
  using V = Vec<T>;
  const V s = V::set1(slope);
  for_each_vec<V>(c, [&](std::size_t i, std::size_t k) {
    V acc = V::zero();
    for (std::size_t t = 0; t < taps; ++t)
      acc = fmadd(V::loadn(x[t] + i, k), V::loadn(w[t] + i, k), acc);
    if (bias) acc = acc + V::loadn(bias + i, k);
    activate<T>(acc, act, s).storen(y + i, k);
  });
}

template <class T>
void dw_backward_kernel(std::size_t c, std::size_t taps, const T* const* x, const T* const* w,
                        const T* g, T* const* dw, T* const* dx) {
  using V = Vec<T>;
  for_each_vec<V>(c, [&](std::size_t i, std::size_t k) {
    const V gv = V::loadn(g + i, k);
    for (std::size_t t = 0; t < taps; ++t) {
      fmadd(V::loadn(x[t] + i, k), gv, V::loadn(dw[t] + i, k)).storen(dw[t] + i, k);
      if (dx) fmadd(gv, V::loadn(w[t] + i, k), V::loadn(dx[t] + i, k)).storen(dx[t] + i, k);
    }
  });
}

}  // namespace

template <class T>
const ConvKernels<T>& conv_kernels() {
  static constexpr ConvKernels<T> table{GemmTraits<T>::mr, &pack_rows_kernel<T>,
                                        &dw_forward_kernel<T>, &dw_backward_kernel<T>};
  return table;
}

template const ConvKernels<float>& conv_kernels<float>();
template const ConvKernels<double>& conv_kernels<double>();

}  // namespace CG_NS
}  // namespace cg
