// The waiting side of the pool (common/parallel_pool.cpp, its only includer): spinning and
// futex sleeps, and how the pool tells a busy machine from a quiet one (preemptions that keep
// our threads off their cores, long waits for a descheduled worker) and reacts (no spinning,
// calls on one thread, for calm periods).
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#else
#include <condition_variable>
#endif
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#endif

namespace cg {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Sleeps while w == expected (spurious returns allowed); wakes sleepers of w.
#if defined(__linux__)
void futex_wait(std::atomic<std::uint32_t>& w, std::uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}
void futex_wake(std::atomic<std::uint32_t>& w) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
          0);
}
#else
std::mutex g_sleep_mu;
std::condition_variable g_sleep_cv;
void futex_wait(std::atomic<std::uint32_t>& w, std::uint32_t expected) {
  std::unique_lock<std::mutex> lock(g_sleep_mu);
  if (w.load() == expected) g_sleep_cv.wait_for(lock, std::chrono::milliseconds(1));
}
void futex_wake(std::atomic<std::uint32_t>&) {
  std::lock_guard<std::mutex> lock(g_sleep_mu);
  g_sleep_cv.notify_all();
}
#endif

using Clock = std::chrono::steady_clock;

// Spins up to `us` microseconds until done() holds, and while keep() does (asked between
// rounds of 64 checks); returns whether done() held.
template <class F, class K>
bool spin_until(F&& done, int us, K&& keep) {
  const Clock::time_point end = Clock::now() + std::chrono::microseconds(us);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (Clock::now() >= end || !keep()) return done();
  }
}
template <class F>
bool spin_until(F&& done, int us) {
  return spin_until(done, us, [] { return true; });
}

// A busy machine: two signals start a calm period of kCalmMinUs that doubles, up to kCalmMaxUs,
// each time a signal comes again soon after the period ended (the machine stays busy); a lone
// signal (a kernel thread on a quiet machine) costs nothing: a period starts at the second
// signal within kPairUs.
// - The OS kept a thread of ours off its core for long (see PreemptWatch: another process
//   wants the core): nobody spins (a spinning thread takes the core of one doing
//   work), and calls run on their calling thread alone.
// - A caller waited long for a part a worker had claimed (longer than kLongWaitUs and than the
//   caller's own parts took: the worker was descheduled in the middle of it): calls run on
//   their calling thread alone.
// While the machine is quiet, workers spin briefly for the next call, then sleep.
constexpr int kWorkerSpinUs = 50;  // a worker's spin for the next call before it sleeps
constexpr int kCallerSpinUs = 20;  // the caller's spin for claimed parts before it sleeps
constexpr std::int64_t kCalmMinUs = 10000, kCalmMaxUs = 200000;
constexpr std::int64_t kCheckUs = 1000;  // a thread reads its usage at most this often
constexpr std::int64_t kLongWaitUs = 200;
constexpr std::int64_t kPairUs = 30000;  // two signals this close start a calm period
// A preemption counts when it kept the thread off its core this long (PreemptWatch).
constexpr std::int64_t kLostUs = 300;
// A preemption this long is a signal on its own (a busy machine's time slice; the quiet VM's
// kernel threads were seen taking at most 270 us).
constexpr std::int64_t kLongLostUs = 1000;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Calm {
  std::atomic<std::int64_t> until{0};
  std::atomic<std::int64_t> length{kCalmMinUs};
  std::atomic<std::int64_t> last{-kCalmMaxUs};  // the last signal's time
  // strong: a signal that needs no second one.
  void signal(std::int64_t t, bool strong = false) {
    // A lone signal (a kernel thread or a short job on a quiet machine) changes nothing: only a
    // second one within kPairUs (another process keeps wanting the cores) starts a calm period.
    if (t - last.exchange(t, std::memory_order_relaxed) > kPairUs && !strong) return;
    const std::int64_t u = until.load(std::memory_order_relaxed);
    std::int64_t len = length.load(std::memory_order_relaxed);
    if (t < u) return;  // already calm
    len = t < u + 2 * len ? std::min(2 * len, kCalmMaxUs) : kCalmMinUs;
    length.store(len, std::memory_order_relaxed);
    until.store(t + len, std::memory_order_relaxed);
  }
  bool on(std::int64_t t) const { return t < until.load(std::memory_order_relaxed); }
};
Calm g_no_spin;     // after preemptions
Calm g_one_thread;  // after preemptions and long waits for a worker's part

// A thread's context switches and CPU time so far (getrusage of the thread).
struct Usage {
  long involuntary = 0, voluntary = 0;
  std::int64_t cpu_us = 0;
};
Usage usage() {
  Usage u;
#if defined(__linux__)
  rusage ru;
  if (getrusage(RUSAGE_THREAD, &ru) == 0) {
    u.involuntary = ru.ru_nivcsw;
    u.voluntary = ru.ru_nvcsw;
  }
  // (not getrusage's times: they move in scheduler ticks)
  timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
    u.cpu_us = ts.tv_sec * std::int64_t(1000000) + ts.tv_nsec / 1000;
#endif
  return u;
}

// This thread's sleeps in sleep_on: how many, and their wall time.
thread_local long t_sleeps = 0;
thread_local std::int64_t t_slept_us = 0;

// futex_wait, counted in t_sleeps and t_slept_us.
void sleep_on(std::atomic<std::uint32_t>& w, std::uint32_t expected) {
  const std::int64_t t0 = now_us();
  futex_wait(w, expected);
  t_slept_us += now_us() - t0;
  ++t_sleeps;
}

// One thread's view of its preemptions: a signal when, in an interval between two checks (at
// least kCheckUs apart) in which the thread slept only in sleep_on (no more voluntary switches
// than those sleeps), the OS kept it off its core (involuntary switches) for kLostUs or more:
// the interval's wall time minus those sleeps and minus the thread's CPU time. Another process
// that wants the core takes it for a time slice (hundreds of microseconds to milliseconds);
// the kernel threads of a quiet VM (such as DAMON's kdamond, which preempts ours every few
// milliseconds) take tens of microseconds.
struct PreemptWatch {
  std::int64_t last_check = now_us();
  Usage last = usage();
  long sleeps = t_sleeps;
  std::int64_t slept_us = t_slept_us;
  void check() {
    const std::int64_t t = now_us();
    if (t - last_check < kCheckUs) return;
    const Usage u = usage();
    const std::int64_t off = (t - last_check) - (t_slept_us - slept_us) - (u.cpu_us - last.cpu_us);
    const bool preempted = u.involuntary != last.involuntary &&
                           u.voluntary - last.voluntary <= t_sleeps - sleeps && off >= kLostUs;
    last_check = t;
    last = u;
    sleeps = t_sleeps;
    slept_us = t_slept_us;
    if (preempted) {
      g_no_spin.signal(t, off >= kLongLostUs);
      g_one_thread.signal(t, off >= kLongLostUs);
    }
  }
};

bool may_spin() { return !g_no_spin.on(now_us()); }

}  // namespace
}  // namespace cg
