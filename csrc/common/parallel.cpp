#include "common/parallel.h"

#include <atomic>
#include <stdexcept>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace cg {
namespace {
std::atomic<int> g_threads{0};  // 0: not set, use OpenMP's (OMP_NUM_THREADS, threadpoolctl)
}

int get_num_threads() {
  if (in_parallel_part()) return 1;
  const int n = g_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
#ifdef _OPENMP
  // The calling thread's nthreads-var: OMP_NUM_THREADS, or the limit threadpoolctl sets through
  // omp_set_num_threads. Only read: the kernels run on the pool of common/parallel_pool.cpp.
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: n must be >= 1");
  g_threads.store(n, std::memory_order_relaxed);
}

bool have_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace cg
