// The pool behind detail::run_parts: persistent worker threads, created on first use (up to the
// largest thread count asked for; the others sleep), one call at a time.
//
// A call publishes a descriptor (function, context, part count, thread count) under a sequence
// number (a seqlock: workers read it and check that it did not change meanwhile) and a claim
// word [call number : 32 | front : 16 | back : 16] over the call's chunks of parts. Every
// participant claims a chunk by a compare-and-swap that also checks the call number, so a
// worker that wakes after its call is over claims nothing: the caller from the front, workers
// from the back (see claim_word). The caller claims like the workers, then waits only until every
// claimed part has finished (a short spin, then a futex sleep woken by the worker finishing the
// last part). Workers spin briefly for the next call, then sleep on their own futex word.
// After fork() the child starts a new pool (pthread_atfork): the parent's workers do not exist
// there.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "common/parallel.h"
#include "common/parallel_wait.h"
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

namespace cg {
namespace {

struct alignas(64) Worker {
  std::atomic<std::uint32_t> wake{0};      // bumped for every call it may join
  std::atomic<std::uint32_t> sleeping{0};  // 1 while it may be in futex_wait on `wake`
  std::atomic<std::uint64_t> parts{0};     // parts run (stats)
};

struct Pool {
  std::atomic<bool> busy{false};  // held by the call in progress
  std::uint32_t gen = 0;          // the last call's number (written by the holder of busy)
  alignas(64) std::atomic<std::uint64_t> claim{0};  // claim_word: [call | front | back]
  alignas(64) std::atomic<std::uint32_t> finished{0};
  std::atomic<std::uint32_t> caller_sleeping{0};
  // The descriptor, under the seqlock `seq` (2 * call when stable, odd while written).
  alignas(64) std::atomic<std::uint64_t> seq{0};
  std::atomic<detail::PartFn> fn{nullptr};
  std::atomic<void*> ctx{nullptr};
  std::atomic<std::uint32_t> parts{0};
  std::atomic<int> threads{0};
  std::atomic<const std::uint32_t*> order{nullptr};  // shuffled claim order (testing) or null
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::exception_ptr error;
  std::vector<std::uint32_t> order_buf;
  // Workers 1..spawned-1 (slot 0 is the caller).
  Worker workers[kMaxParallelThreads];
  std::atomic<int> spawned{1};
  // Stats.
  std::atomic<std::uint64_t> calls{0}, inline_calls{0}, contended_calls{0}, parts_caller{0},
      waits{0};
};

// Testing hooks (never set outside tests).
std::atomic<int> g_delay_us{0};
std::atomic<bool> g_delay_caller{false};
std::atomic<std::uint64_t> g_shuffle_seed{0};
std::atomic<bool> g_adaptive{true};

std::atomic<Pool*> g_pool{nullptr};
std::mutex g_pool_mu;
thread_local bool t_in_part = false;

void forget_pool_in_child() { g_pool.store(nullptr); }  // the parent's workers are gone

Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  std::lock_guard<std::mutex> lock(g_pool_mu);
  p = g_pool.load();
  if (!p) {
#if defined(__unix__) || defined(__APPLE__)
    static const bool registered = [] {
      pthread_atfork(nullptr, nullptr, forget_pool_in_child);
      return true;
    }();
    (void)registered;
#endif
    p = new Pool();  // never freed: detached workers may touch it until the process ends
    g_pool.store(p, std::memory_order_release);
  }
  return *p;
}

void delay_if_testing(bool caller) {
  const int us = g_delay_us.load(std::memory_order_relaxed);
  if (us > 0 && caller == g_delay_caller.load(std::memory_order_relaxed))
    std::this_thread::sleep_for(std::chrono::microseconds(us));
}

// The claim word of call `gen`: [call : 32 | front : 16 | back : 16], the chunks [front, back)
// not claimed yet. A call of n parts has min(n, kMaxChunks) chunks of consecutive parts
// (claim_chunk). The caller claims chunks from the front and workers from the back, so with
// two threads each keeps to its end of the call's data from call to call (as a static split
// would), while either takes the other's chunks when the other is late.
constexpr std::uint32_t kMaxChunks = 0xFFFF;
std::uint64_t claim_word(std::uint32_t gen, std::uint32_t front, std::uint32_t back) {
  return (std::uint64_t(gen) << 32) | (std::uint64_t(front) << 16) | back;
}

// Claims a chunk of call `gen` (slot 0 from the front, others from the back): its index, or -1
// when none is left.
long claim_chunk(Pool& p, std::uint32_t gen, int slot) {
  std::uint64_t v = p.claim.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<std::uint32_t>(v >> 32) != gen) return -1;
    const std::uint32_t front = (v >> 16) & 0xFFFF, back = v & 0xFFFF;
    if (front >= back) return -1;
    const bool first = slot == 0;
    const std::uint64_t next =
        first ? claim_word(gen, front + 1, back) : claim_word(gen, front, back - 1);
    if (p.claim.compare_exchange_weak(v, next, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
      return first ? front : back - 1;
  }
}

// Claims and runs chunks of call `gen` until none is left; returns the parts run.
std::uint64_t claim_and_run(Pool& p, std::uint32_t gen, std::uint32_t parts, detail::PartFn fn,
                            void* ctx, const std::uint32_t* order, int slot) {
  const std::uint64_t chunks = std::min(parts, kMaxChunks);
  std::uint64_t done = 0;
  for (long c; (c = claim_chunk(p, gen, slot)) >= 0;) {
    const std::uint64_t lo = std::uint64_t(c) * parts / chunks;
    const std::uint64_t hi = std::uint64_t(c + 1) * parts / chunks;
    for (std::uint64_t i = lo; i < hi; ++i) {
      delay_if_testing(slot == 0);
      if (p.failed.load(std::memory_order_relaxed)) continue;
      try {
        fn(ctx, order ? order[i] : static_cast<std::uint32_t>(i), slot);
      } catch (...) {
        std::lock_guard<std::mutex> lock(p.error_mu);
        if (!p.error) p.error = std::current_exception();
        p.failed.store(true, std::memory_order_relaxed);
      }
    }
    done += hi - lo;
    const auto k = static_cast<std::uint32_t>(hi - lo);
    if (p.finished.fetch_add(k, std::memory_order_seq_cst) + k == parts &&
        p.caller_sleeping.load(std::memory_order_seq_cst))
      futex_wake(p.finished);
  }
  return done;
}

// A worker joins the published call if the descriptor is stable and it is one of its threads.
void join_call(Pool& p, int slot) {
  for (;;) {
    const std::uint64_t s1 = p.seq.load(std::memory_order_acquire);
    if (s1 & 1) {  // being written: the caller is about to wake us again anyway
      cpu_relax();
      continue;
    }
    const detail::PartFn fn = p.fn.load(std::memory_order_relaxed);
    void* ctx = p.ctx.load(std::memory_order_relaxed);
    const std::uint32_t parts = p.parts.load(std::memory_order_relaxed);
    const int threads = p.threads.load(std::memory_order_relaxed);
    const std::uint32_t* order = p.order.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (p.seq.load(std::memory_order_relaxed) != s1) continue;
    if (s1 == 0 || slot >= threads) return;
    const std::uint64_t n =
        claim_and_run(p, static_cast<std::uint32_t>(s1 / 2), parts, fn, ctx, order, slot);
    if (n) p.workers[slot].parts.fetch_add(n, std::memory_order_relaxed);
    return;
  }
}

void worker_loop(Pool* pp, int slot) {
  t_in_part = true;  // kernels called from a part run on this thread only
  Pool& p = *pp;
  Worker& w = p.workers[slot];
  std::uint32_t seen = w.wake.load(std::memory_order_acquire);
  PreemptWatch watch;
  for (;;) {
    watch.check();
    // (a long spin stops as soon as this thread is preempted or others were)
    const auto keep = [&] {
      watch.check();
      return may_spin();
    };
    if (!spin_until([&] { return w.wake.load(std::memory_order_acquire) != seen; },
                    may_spin() ? kWorkerSpinUs : 0, keep)) {
      w.sleeping.store(1, std::memory_order_seq_cst);
      while (w.wake.load(std::memory_order_seq_cst) == seen) sleep_on(w.wake, seen);
      w.sleeping.store(0, std::memory_order_relaxed);
    }
    seen = w.wake.load(std::memory_order_acquire);
    join_call(p, slot);
  }
}

// The calling thread runs every part itself.
void run_inline(std::size_t parts, detail::PartFn fn, void* ctx) {
  const bool outer = t_in_part;
  t_in_part = true;
  try {
    for (std::size_t i = 0; i < parts; ++i) fn(ctx, i, 0);
  } catch (...) {
    t_in_part = outer;
    throw;
  }
  t_in_part = outer;
}

}  // namespace

namespace detail {

void run_parts(std::size_t parts, int threads, PartFn fn, void* ctx) {
  threads = std::min(threads, kMaxParallelThreads);
  if (parts > 0xFFFFFFF0u) threads = 1;  // not a real case: the claim word holds 32 bits
  if (threads > 1 && static_cast<std::size_t>(threads) > parts) threads = static_cast<int>(parts);
  if (threads < 2 || t_in_part) {
    run_inline(parts, fn, ctx);
    return;
  }
  Pool& p = pool();
  thread_local PreemptWatch watch;
  watch.check();
  const bool adaptive = g_adaptive.load(std::memory_order_relaxed);
  if (adaptive && g_one_thread.on(now_us())) {  // a busy machine lately
    p.contended_calls.fetch_add(1, std::memory_order_relaxed);
    run_inline(parts, fn, ctx);
    return;
  }
  if (p.busy.exchange(true, std::memory_order_acquire)) {  // another thread's call
    p.inline_calls.fetch_add(1, std::memory_order_relaxed);
    run_inline(parts, fn, ctx);
    return;
  }
  for (int s = p.spawned.load(std::memory_order_relaxed); s < threads; ++s) {
    try {
      std::thread(worker_loop, &p, s).detach();
    } catch (...) {  // no more threads: use those there are
      threads = s;
      break;
    }
    p.spawned.store(s + 1, std::memory_order_relaxed);
  }
  const auto n = static_cast<std::uint32_t>(parts);
  const std::uint32_t gen = ++p.gen;
  const std::uint64_t shuffle = g_shuffle_seed.load(std::memory_order_relaxed);
  const std::uint32_t* order = nullptr;
  if (shuffle) {
    p.order_buf.resize(n);
    std::iota(p.order_buf.begin(), p.order_buf.end(), 0u);
    std::mt19937_64 rng(shuffle * 0x9E3779B97F4A7C15ull + gen);
    std::shuffle(p.order_buf.begin(), p.order_buf.end(), rng);
    order = p.order_buf.data();
  }
  // Publish: descriptor under the seqlock, then the claim word.
  p.seq.store(2 * std::uint64_t(gen) - 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  p.fn.store(fn, std::memory_order_relaxed);
  p.ctx.store(ctx, std::memory_order_relaxed);
  p.parts.store(n, std::memory_order_relaxed);
  p.threads.store(threads, std::memory_order_relaxed);
  p.order.store(order, std::memory_order_relaxed);
  p.failed.store(false, std::memory_order_relaxed);
  p.error = nullptr;
  p.finished.store(0, std::memory_order_relaxed);
  p.claim.store(claim_word(gen, 0, std::min(n, kMaxChunks)), std::memory_order_release);
  p.seq.store(2 * std::uint64_t(gen), std::memory_order_seq_cst);
  for (int s = 1; s < threads; ++s) {
    Worker& w = p.workers[s];
    w.wake.fetch_add(1, std::memory_order_seq_cst);
    if (w.sleeping.load(std::memory_order_seq_cst)) futex_wake(w.wake);
  }
  t_in_part = true;
  const Clock::time_point t0 = Clock::now();
  const std::uint64_t mine = claim_and_run(p, gen, n, fn, ctx, order, 0);
  const Clock::time_point t1 = Clock::now();
  // Every part is claimed: wait for those in progress on workers.
  const auto all_done = [&] { return p.finished.load(std::memory_order_acquire) == n; };
  if (!spin_until(all_done, may_spin() ? kCallerSpinUs : 0)) {
    p.waits.fetch_add(1, std::memory_order_relaxed);
    p.caller_sleeping.store(1, std::memory_order_seq_cst);
    for (;;) {
      const std::uint32_t f = p.finished.load(std::memory_order_seq_cst);
      if (f == n) break;
      sleep_on(p.finished, f);
    }
    p.caller_sleeping.store(0, std::memory_order_relaxed);
    const Clock::time_point t2 = Clock::now();
    if (adaptive &&
        t2 - t1 > std::max<Clock::duration>(t1 - t0, std::chrono::microseconds(kLongWaitUs)))
      g_one_thread.signal(now_us());
  }
  t_in_part = false;
  p.calls.fetch_add(1, std::memory_order_relaxed);
  p.parts_caller.fetch_add(mine, std::memory_order_relaxed);
  std::exception_ptr error = p.error;
  p.error = nullptr;
  p.busy.store(false, std::memory_order_release);
  if (error) std::rethrow_exception(error);
}

}  // namespace detail

void set_parallel_testing(int delay_us, bool delay_caller, std::uint64_t shuffle_seed,
                          bool adaptive) {
  g_adaptive.store(adaptive);
  g_delay_us.store(std::max(delay_us, 0));
  g_delay_caller.store(delay_caller);
  g_shuffle_seed.store(shuffle_seed);
}

ParallelStats parallel_stats() {
  Pool& p = pool();
  ParallelStats s;
  s.calls = p.calls.load();
  s.inline_calls = p.inline_calls.load();
  s.contended_calls = p.contended_calls.load();
  s.parts_caller = p.parts_caller.load();
  s.waits = p.waits.load();
  const int spawned = p.spawned.load();
  for (int i = 1; i < spawned; ++i) s.parts_workers += p.workers[i].parts.load();
  s.workers = spawned - 1;
  return s;
}

bool in_parallel_part() { return t_in_part; }

}  // namespace cg
