// Embedding lookup (Bengio et al., "A Neural Probabilistic Language Model", JMLR 2003): the
// kernel on Vec<T> and the portable drivers of the forward gather and the backward scatter-add.
#pragma once
#include <cstddef>
#include <cstdint>

#include "nn/embedding_kernels.h"

namespace cg {

// out[p, :] = weight[indices[p], :] for p < n (every index in [0, rows), checked by the caller):
// the row gather of the training loop (gather_rows), on the kernels' threads.
template <class T>
void embedding_forward(std::size_t n, std::size_t dim, const T* weight, const std::int64_t* indices,
                       T* out);

// dweight[i, :] = sum over the positions p with indices[p] == i, in increasing p, of dout[p, :]
// (0 for a row no position uses, and for row `padding` when it is >= 0), for i < rows. The
// positions are counting-sorted by index (stable), then each row is summed by one thread in
// position order: the same bits as the sequential scatter-add, for any thread count and ISA
// (additions only, no FMA).
template <class T>
void embedding_backward(std::size_t n, std::size_t rows, std::size_t dim,
                        const std::int64_t* indices, const T* dout, T* dweight,
                        std::int64_t padding);

}  // namespace cg

#ifdef CG_NS
#include "common/simd.h"

namespace cg {
namespace CG_NS {

template <class T>
void embedding_row_sum_kernel(std::size_t dim, std::size_t count, const std::int64_t* pos,
                              const T* src, T* dst) {
  using V = Vec<T>;
  for_each_vec<V>(dim, [&](std::size_t j, std::size_t w) {
    V s = V::zero();
    for (std::size_t c = 0; c < count; ++c)
      s = s + V::loadn(src + static_cast<std::size_t>(pos[c]) * dim + j, w);
    s.storen(dst + j, w);
  });
}

}  // namespace CG_NS
}  // namespace cg
#endif
