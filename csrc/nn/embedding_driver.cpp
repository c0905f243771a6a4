// Drivers of the embedding layer: the forward row gather and the deterministic backward
// scatter-add (counting sort of the positions by index, then one thread per block of rows).
#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "nn/driver.h"
#include "nn/embedding.h"

namespace cg {
namespace {

constexpr std::size_t kRowsPerItem = 64;                    // weight rows per work item
constexpr std::size_t kMinParallel = std::size_t(1) << 15;  // elements written or read

}  // namespace

template <class T>
void embedding_forward(std::size_t n, std::size_t dim, const T* weight, const std::int64_t* indices,
                       T* out) {
  gather_rows(n, dim * sizeof(T), reinterpret_cast<const char*>(weight), indices,
              reinterpret_cast<char*>(out));
}

template <class T>
void embedding_backward(std::size_t n, std::size_t rows, std::size_t dim,
                        const std::int64_t* indices, const T* dout, T* dweight,
                        std::int64_t padding) {
  const EmbeddingKernels<T>& kr = embedding_kernels<T>();
  // start[i] .. start[i + 1]: the positions of row i in `pos`, in increasing order.
  std::vector<std::size_t> start(rows + 1, 0);
  for (std::size_t p = 0; p < n; ++p)
    if (indices[p] != padding) ++start[static_cast<std::size_t>(indices[p]) + 1];
  for (std::size_t i = 0; i < rows; ++i) start[i + 1] += start[i];
  std::vector<std::int64_t> pos(start[rows]);
  {
    std::vector<std::size_t> fill(start.begin(), start.end() - 1);
    for (std::size_t p = 0; p < n; ++p)
      if (indices[p] != padding)
        pos[fill[static_cast<std::size_t>(indices[p])]++] = static_cast<std::int64_t>(p);
  }
  const std::size_t items = (rows + kRowsPerItem - 1) / kRowsPerItem;
  parallel_for(items, (rows + n) * dim, kMinParallel, [&](std::size_t it) {
    const std::size_t r1 = std::min(rows, (it + 1) * kRowsPerItem);
    for (std::size_t r = it * kRowsPerItem; r < r1; ++r)
      kr.row_sum(dim, start[r + 1] - start[r], pos.data() + start[r], dout, dweight + r * dim);
  });
}

template void embedding_forward<float>(std::size_t, std::size_t, const float*, const std::int64_t*,
                                       float*);
template void embedding_forward<double>(std::size_t, std::size_t, const double*,
                                        const std::int64_t*, double*);
template void embedding_backward<float>(std::size_t, std::size_t, std::size_t, const std::int64_t*,
                                        const float*, float*, std::int64_t);
template void embedding_backward<double>(std::size_t, std::size_t, std::size_t, const std::int64_t*,
                                         const double*, double*, std::int64_t);

}  // namespace cg
