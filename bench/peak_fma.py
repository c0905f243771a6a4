"""The machine's peak FMA rate: a register-only loop of independent fused multiply-adds, per
thread, for the ISA convergent runs (AVX-512, AVX2+FMA), in float32 and float64.

    python bench/peak_fma.py                 # 1 and 2 threads, the ISA convergent chose
    python bench/peak_fma.py --threads 2 --isa avx2

It compiles a small C program with the system's C compiler (gcc or cc, with OpenMP) into a
temporary directory: the loop keeps 12 accumulators per thread in registers (enough to cover the
FMA latency on two pipes), so no load or store limits it. Compute-bound benchmarks report their
GFLOP/s against this figure (2 FLOPs per FMA lane).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

SOURCE = r"""
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(USE512)
typedef __m512 VF; typedef __m512d VD;
#define LANES_F 16
#define LANES_D 8
#define SETF _mm512_set1_ps
#define SETD _mm512_set1_pd
#define FMAF _mm512_fmadd_ps
#define FMAD _mm512_fmadd_pd
#define ADDF(a, b) _mm512_add_ps(a, b)
#define ADDD(a, b) _mm512_add_pd(a, b)
#define SUMF(a) _mm512_reduce_add_ps(a)
#define SUMD(a) _mm512_reduce_add_pd(a)
#else
typedef __m256 VF; typedef __m256d VD;
#define LANES_F 8
#define LANES_D 4
#define SETF _mm256_set1_ps
#define SETD _mm256_set1_pd
#define FMAF _mm256_fmadd_ps
#define FMAD _mm256_fmadd_pd
#define ADDF(a, b) _mm256_add_ps(a, b)
#define ADDD(a, b) _mm256_add_pd(a, b)
static float SUMF(__m256 a) {
  float t[8], s = 0;
  _mm256_storeu_ps(t, a);
  for (int i = 0; i < 8; ++i) s += t[i];
  return s;
}
static double SUMD(__m256d a) {
  double t[4], s = 0;
  _mm256_storeu_pd(t, a);
  for (int i = 0; i < 4; ++i) s += t[i];
  return s;
}
#endif
#define BODY(V, SET, FMA, ADD, SUM, T)                                              \
  V a0 = SET((T)1), a1 = SET((T)1.1), a2 = SET((T)1.2), a3 = SET((T)1.3);           \
  V a4 = SET((T)1.4), a5 = SET((T)1.5), a6 = SET((T)1.6), a7 = SET((T)1.7);         \
  V a8 = SET((T)1.8), a9 = SET((T)1.9), a10 = SET((T)2.0), a11 = SET((T)2.1);       \
  const V m = SET((T)0.9999999), c = SET((T)1e-7);                                  \
  for (long i = 0; i < iters; ++i) {                                                \
    a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c); \
    a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c); \
    a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c); \
  }                                                                                 \
  V s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));          \
  s = ADD(s, ADD(ADD(a8, a9), ADD(a10, a11)));                                      \
  sink += (double)SUM(s);

int main(int argc, char** argv) {
  int threads = atoi(argv[1]);
  long iters = atol(argv[2]);
  int dbl = atoi(argv[3]);
  double sink = 0, best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double t0 = omp_get_wtime();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
      if (dbl) { BODY(VD, SETD, FMAD, ADDD, SUMD, double) }
      else { BODY(VF, SETF, FMAF, ADDF, SUMF, float) }
    }
    double dt = omp_get_wtime() - t0;
    double flops = 2.0 * 12 * (dbl ? LANES_D : LANES_F) * (double)iters * threads;
    if (flops / dt > best) best = flops / dt;
  }
  printf("%.3f %g\n", best / 1e9, sink);
  return 0;
}
"""


def compile_and_run(isa: str, threads: int, dtype: str, iters: int) -> float:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("no C compiler (gcc or cc) found")
    flags = ["-O2", "-fopenmp", "-mfma", "-mavx2"]
    if isa == "avx512":
        flags += ["-mavx512f", "-DUSE512"]
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "fma.c"), os.path.join(tmp, "fma")
        with open(src, "w") as f:
            f.write(SOURCE)
        subprocess.run([cc, *flags, src, "-o", exe], check=True)
        out = subprocess.run(
            [exe, str(threads), str(iters), "1" if dtype == "float64" else "0"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    return float(out.stdout.split()[0])


def peak(threads: int, dtype: str = "float32", isa: str | None = None) -> float:
    """GFLOP/s of the register-only FMA loop (for other runners)."""
    if isa is None:
        import convergent as cg

        isa = cg.get_isa()
    if isa == "scalar":
        raise ValueError("the peak FMA loop needs avx2 or avx512")
    return compile_and_run(isa, threads, dtype, 20_000_000)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--isa", default=None, help="avx512 or avx2 (default: convergent's)")
    ap.add_argument("--iters", type=int, default=20_000_000)
    args = ap.parse_args(argv)
    isa = args.isa
    if isa is None:
        import convergent as cg

        isa = cg.get_isa()
    load = os.getloadavg()
    print(f"ISA {isa}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| threads | dtype | peak FMA GFLOP/s |\n|---:|---|---:|")
    for t in (int(x) for x in args.threads.split(",")):
        for dt in ("float32", "float64"):
            print(f"| {t} | {dt} | {compile_and_run(isa, t, dt, args.iters):.1f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
