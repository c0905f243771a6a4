// Thread count, the one parallel loop and the pair of concurrent tasks used by the drivers.
#pragma once
#include <cstddef>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace cg {

// The threads a kernel may use: the set_num_threads value (OpenMP's default when unset), and 1
// when called from inside a parallel region (see parallel_pair).
int get_num_threads();
void set_num_threads(int n);  // n >= 1
bool have_openmp();

// Calls body(i) for i in [0, count). Runs on several threads only when `work` (a rough element
// count) reaches `min_parallel_work`; each i is processed by exactly one thread, so results that
// depend only on i are the same bits for any thread count. Items are handed out dynamically: a
// thread that the OS deschedules (a loaded machine) does not hold up the others' share.
template <class F>
void parallel_for(std::size_t count, std::size_t work, std::size_t min_parallel_work, F&& body) {
  const int threads = get_num_threads();
#ifdef _OPENMP
  if (threads > 1 && count > 1 && work >= min_parallel_work) {
    const long long n = static_cast<long long>(count);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (long long i = 0; i < n; ++i) body(static_cast<std::size_t>(i));
    return;
  }
#else
  (void)threads;
  (void)work;
  (void)min_parallel_work;
#endif
  for (std::size_t i = 0; i < count; ++i) body(i);
}

// Runs f0 and f1 at the same time, each on one thread, when two threads are allowed; else f0
// then f1. The kernels they call run on their own thread (get_num_threads() is 1 there), so
// they give the same bits as when called alone.
template <class F0, class F1>
void parallel_pair(F0&& f0, F1&& f1) {
#ifdef _OPENMP
  if (get_num_threads() > 1) {
#pragma omp parallel num_threads(2)
    {
      if (omp_get_thread_num() == 0)
        f0();
      else
        f1();
    }
    return;
  }
#endif
  f0();
  f1();
}

}  // namespace cg
