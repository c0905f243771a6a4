// The one place that maps the current ISA to a kernel table.
#pragma once
#include "common/isa.h"

namespace cg {

// Returns the table of the current ISA. An ISA not compiled into this build is passed as
// nullptr; set_isa() never selects one, so the scalar table is the only unconditional one.
template <class Table>
const Table& pick_table(const Table& (*scalar_fn)(), const Table& (*avx2_fn)(),
                        const Table& (*avx512_fn)()) {
  switch (current_isa()) {
    case Isa::avx512:
      if (avx512_fn) return avx512_fn();
      break;
    case Isa::avx2:
      if (avx2_fn) return avx2_fn();
      break;
    default:
      break;
  }
  return scalar_fn();
}

#ifdef CG_HAVE_AVX2
#define CG_AVX2_TABLE(fn) &avx2::fn
#else
#define CG_AVX2_TABLE(fn) nullptr
#endif
#ifdef CG_HAVE_AVX512
#define CG_AVX512_TABLE(fn) &avx512::fn
#else
#define CG_AVX512_TABLE(fn) nullptr
#endif
// Defines the dispatched `const Table<T>& fn<T>()` for float and double.
#define CG_DISPATCH_TABLE(Table, fn)                                                           \
  template <class T>                                                                           \
  const Table<T>& fn() {                                                                       \
    return pick_table<Table<T>>(&scalar::fn<T>, CG_AVX2_TABLE(fn<T>), CG_AVX512_TABLE(fn<T>)); \
  }                                                                                            \
  template const Table<float>& fn<float>();                                                    \
  template const Table<double>& fn<double>();

}  // namespace cg
