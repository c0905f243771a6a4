// Drivers of the training-loop kernels: the mini-batch row gather, softmax cross-entropy over
// blocks of rows, the non-finite scan of the gradients and their clips.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "common/parallel.h"
#include "nn/driver.h"

namespace cg {
namespace {

constexpr std::size_t kXentRows = 256;                      // rows per work item
constexpr std::size_t kScanChunk = std::size_t(1) << 15;    // elements per work item (scans)
constexpr std::size_t kMinParallel = std::size_t(1) << 16;  // elements
constexpr std::size_t kGatherRows = 16;                     // rows per work item
constexpr std::size_t kGatherAhead = 4;                     // rows prefetched ahead

// Rows [r0, r1) of a gather.
void copy_rows(std::size_t r0, std::size_t r1, std::size_t row_bytes, const char* src,
               const std::int64_t* index, char* dst) {
  for (std::size_t r = r0; r < r1; ++r) {
    // The source rows are scattered: start fetching the lines of a later row (the hardware
    // prefetcher then follows each row) while this one is copied.
    if (r + kGatherAhead < r1) {
      const char* ahead = src + static_cast<std::size_t>(index[r + kGatherAhead]) * row_bytes;
      for (std::size_t o = 0; o < row_bytes; o += 256) __builtin_prefetch(ahead + o);
    }
    std::memcpy(dst + r * row_bytes, src + static_cast<std::size_t>(index[r]) * row_bytes,
                row_bytes);
  }
}

}  // namespace

void gather_rows(std::size_t rows, std::size_t row_bytes, const char* src,
                 const std::int64_t* index, char* dst) {
  const std::size_t items = (rows + kGatherRows - 1) / kGatherRows;
  parallel_for(items, rows * row_bytes / 4, kMinParallel, [&](std::size_t it) {
    const std::size_t r0 = it * kGatherRows;
    copy_rows(r0, std::min(rows, r0 + kGatherRows), row_bytes, src, index, dst);
  });
}

void gather_rows_shared(std::size_t rows, std::size_t row_bytes, const char* src,
                        const std::int64_t* index, char* dst, std::atomic<std::size_t>& next) {
  for (;;) {
    const std::size_t r0 = next.fetch_add(1, std::memory_order_relaxed) * kGatherRows;
    if (r0 >= rows) return;
    copy_rows(r0, std::min(rows, r0 + kGatherRows), row_bytes, src, index, dst);
  }
}

template <class T>
XentPart softmax_xent(std::size_t rows, std::size_t k, const T* x, const std::int64_t* t, T* d,
                      T smoothing, std::int64_t ignore, std::size_t* counted) {
  const NnKernels<T>& kr = nn_kernels<T>();
  std::size_t valid = rows;
  if (ignore != kNoIgnoreLabel)
    for (std::size_t r = 0; r < rows; ++r) valid -= t[r] == ignore;
  if (counted) *counted = valid;
  const T inv_n = valid ? T(1) / static_cast<T>(valid) : T(0);
  // Fixed blocks of rows, summed in block order: the same bits for any thread count.
  const std::size_t blocks = (rows + kXentRows - 1) / kXentRows;
  std::vector<XentPart> parts(blocks);
  parallel_for(blocks, rows * k, kMinParallel, [&](std::size_t b) {
    const std::size_t r = b * kXentRows, n = std::min(kXentRows, rows - r);
    parts[b] = kr.softmax_xent(n, k, x + r * k, t + r, d + r * k, smoothing, inv_n, ignore);
  });
  XentPart total;
  for (const XentPart& p : parts) {
    total.nll += p.nll;
    total.smooth += p.smooth;
    total.correct += p.correct;
  }
  return total;
}

template <class T>
bool all_finite(std::size_t n, const T* x) {
  const NnKernels<T>& kr = nn_kernels<T>();
  std::atomic<bool> ok{true};
  const std::size_t chunks = (n + kScanChunk - 1) / kScanChunk;
  parallel_for(chunks, n, kMinParallel, [&](std::size_t c) {
    if (!ok.load(std::memory_order_relaxed)) return;
    const std::size_t i = c * kScanChunk;
    if (!kr.all_finite(std::min(kScanChunk, n - i), x + i))
      ok.store(false, std::memory_order_relaxed);
  });
  return ok.load();
}

template <class T>
void abs_sq_sums(std::size_t n, const T* x, double* sums) {
  const NnKernels<T>& kr = nn_kernels<T>();
  // Fixed chunks, added in order: the same bits for any thread count.
  const std::size_t chunks = (n + kScanChunk - 1) / kScanChunk;
  std::vector<double> part(2 * chunks);
  parallel_for(chunks, n, kMinParallel, [&](std::size_t c) {
    const std::size_t i = c * kScanChunk;
    kr.abs_sq_sums(std::min(kScanChunk, n - i), x + i, &part[2 * c]);
  });
  sums[0] = sums[1] = 0.0;
  for (std::size_t c = 0; c < chunks; ++c) {
    sums[0] += part[2 * c];
    sums[1] += part[2 * c + 1];
  }
}

template <class T>
void scale_clip(std::size_t n, T* g, T scale, T bound) {
  const NnKernels<T>& kr = nn_kernels<T>();
  const std::size_t chunks = (n + kScanChunk - 1) / kScanChunk;
  parallel_for(chunks, n, kMinParallel, [&](std::size_t c) {
    const std::size_t i = c * kScanChunk;
    kr.scale_clip(std::min(kScanChunk, n - i), g + i, scale, bound);
  });
}

template void scale_clip<float>(std::size_t, float*, float, float);
template void scale_clip<double>(std::size_t, double*, double, double);
template void abs_sq_sums<float>(std::size_t, const float*, double*);
template void abs_sq_sums<double>(std::size_t, const double*, double*);
template XentPart softmax_xent<float>(std::size_t, std::size_t, const float*, const std::int64_t*,
                                      float*, float, std::int64_t, std::size_t*);
template XentPart softmax_xent<double>(std::size_t, std::size_t, const double*, const std::int64_t*,
                                       double*, double, std::int64_t, std::size_t*);
template bool all_finite<float>(std::size_t, const float*);
template bool all_finite<double>(std::size_t, const double*);

}  // namespace cg
