// The SIMD vector type of the ISA this translation unit is compiled for.
//
// Kernel headers are written once against `Vec<T>` and compiled three times (see CMakeLists.txt):
// with CG_ISA_AVX512, CG_ISA_AVX2 or CG_ISA_SCALAR defined and CG_NS naming the namespace
// (cg::avx512, cg::avx2, cg::scalar). Every Vec<T> offers:
//   N                     lanes
//   load(p), store(p)     unaligned full-vector access
//   loadn(p, k), storen(p, k)   first k < N lanes only; never touch memory past p + k
//   set1(x), zero()
//   + - * /, neg, sqrt, max, min, fmadd(a, b, c) = a * b + c (one rounding where the ISA has FMA)
// Operations are IEEE single/double with round-to-nearest, so a kernel that performs the same
// operations as its NumPy reference gets the same bits on every ISA.
#pragma once

#if !defined(CG_NS)
#error "compile kernel sources through the per-ISA object libraries (CG_NS undefined)"
#endif

#if defined(CG_ISA_AVX512)
#include "common/vec_avx512.h"
#elif defined(CG_ISA_AVX2)
#include "common/vec_avx2.h"
#else
#include "common/vec_scalar.h"
#endif

namespace cg {
namespace CG_NS {

// Runs body(i, k) over [0, n) in steps of Vec<T>::N; the last call may have k < N.
template <class V, class F>
inline void for_each_vec(std::size_t n, F&& body) {
  std::size_t i = 0;
  for (; i + V::N <= n; i += V::N) body(i, V::N);
  if (i < n) body(i, n - i);
}

}  // namespace CG_NS
}  // namespace cg
