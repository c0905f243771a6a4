#include "common/parallel.h"

#include <atomic>
#include <stdexcept>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace cg {
namespace {
std::atomic<int> g_threads{0};  // 0: not set, use OpenMP's default (OMP_NUM_THREADS or cores)
}

int get_num_threads() {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;
#endif
  const int n = g_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
#ifdef _OPENMP
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
