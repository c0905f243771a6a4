// Thread count and the parallel calls of the kernels: the one place where threads are dispatched
// (the pool itself is in common/parallel_pool.cpp).
//
// A parallel call is split into parts whose count the caller fixes from the problem's shape,
// never from the thread count, and each part is run by exactly one thread: results that depend
// only on the part index are the same bits for any thread count and any interleaving. The
// calling thread and the pool's woken workers claim parts from one counter; the caller never
// waits for a worker that has not claimed a part (it runs the parts itself), only for parts
// already in progress. On a busy machine a descheduled worker therefore costs speed, never a
// collapse.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace cg {

// The threads a kernel may use: the set_num_threads value, else OpenMP's (omp_get_max_threads:
// OMP_NUM_THREADS, threadpoolctl's limits); 1 inside a part of a parallel call (nested calls run
// on their own thread).
int get_num_threads();
void set_num_threads(int n);  // n >= 1
bool have_openmp();

// Whether this thread is running a part of a parallel call (a pool worker always is).
bool in_parallel_part();

// The most threads one parallel call uses (larger counts are capped).
constexpr int kMaxParallelThreads = 64;

namespace detail {
using PartFn = void (*)(void* ctx, std::size_t part, int slot);
// Runs fn(ctx, i, slot) once for every i in [0, parts), on the calling thread and up to
// threads - 1 pool workers; slot is the participant's index in [0, threads) (0: the caller),
// fixed for the call. Inline (slot 0) when threads or parts < 2, inside a part, or while another
// thread's call holds the pool. An exception thrown by a part is rethrown here, after every
// claimed part has finished.
void run_parts(std::size_t parts, int threads, PartFn fn, void* ctx);
}  // namespace detail

// Calls body(i, slot) for i in [0, parts) on up to `threads` threads (see detail::run_parts).
template <class F>
void parallel_parts(std::size_t parts, int threads, F&& body) {
  using Body = std::remove_reference_t<F>;
  detail::run_parts(
      parts, threads,
      [](void* ctx, std::size_t i, int slot) { (*static_cast<Body*>(ctx))(i, slot); },
      const_cast<void*>(static_cast<const void*>(&body)));
}

// Calls body(i) for i in [0, count). Runs on several threads only when `work` (a rough element
// count) reaches `min_parallel_work`; each i is processed by exactly one thread.
template <class F>
void parallel_for(std::size_t count, std::size_t work, std::size_t min_parallel_work, F&& body) {
  if (count > 1 && work >= min_parallel_work) {
    const int threads = get_num_threads();
    if (threads > 1) {
      parallel_parts(count, threads, [&](std::size_t i, int) { body(i); });
      return;
    }
  }
  for (std::size_t i = 0; i < count; ++i) body(i);
}

// Runs f0 and f1 at the same time when two threads are allowed and one is free (else f0, then
// f1, on the calling thread). The kernels they call run on their own thread (get_num_threads()
// is 1 there), so they give the same bits as when called alone.
template <class F0, class F1>
void parallel_pair(F0&& f0, F1&& f1) {
  if (get_num_threads() > 1) {
    parallel_parts(2, 2, [&](std::size_t i, int) {
      if (i == 0)
        f0();
      else
        f1();
    });
    return;
  }
  f0();
  f1();
}

// Testing hooks (convergent._core.parallel_testing): a delay of `delay_us` microseconds before
// each part a worker (or, with delay_caller, the calling thread) runs, claim orders shuffled by a
// generator seeded from shuffle_seed (0: in order), and, with adaptive false, the pool used even
// while the machine is busy (see common/parallel_pool.cpp). Results must not change.
void set_parallel_testing(int delay_us, bool delay_caller, std::uint64_t shuffle_seed,
                          bool adaptive);

// Counters of the runtime since the process (or the fork) started.
struct ParallelStats {
  std::uint64_t calls = 0;         // calls run on the pool
  std::uint64_t inline_calls = 0;  // calls run inline because another thread's call held the pool
  std::uint64_t contended_calls = 0;  // inline: a caller waited long for a worker lately
  std::uint64_t parts_caller = 0;     // parts of pool calls run by the calling thread
  std::uint64_t parts_workers = 0;    // parts of pool calls run by workers
  std::uint64_t waits = 0;            // calls whose caller slept waiting for a worker's part
  int workers = 0;                    // worker threads alive
};
ParallelStats parallel_stats();

}  // namespace cg
