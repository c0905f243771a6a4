// The time loops of the recurrent layers (see nn/rnn_driver.h).
#include "nn/rnn_driver.h"

#include <algorithm>
#include <cstring>

#include "common/parallel.h"
#include "nn/driver.h"
#include "nn/rnn_kernels.h"

namespace cg {
namespace {

template <class T>
T* grow(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// The recurrent weight op(W) (k x n) packed once per sweep for the GEMM microkernel: for each K
// block of balanced_kc, the ceil(n/nr) micro-panels of nn_kernels' pack_b. Every step then
// multiplies by it without packing it again.
template <class T>
void pack_recurrent(std::size_t k, std::size_t n, const T* w, std::size_t ldw, bool trans,
                    std::vector<T>& dst) {
  const NnKernels<T>& kr = nn_kernels<T>();
  const GemmBlocking& bl = kr.blocking;
  const std::size_t kc = balanced_kc(k, bl.kc), np = round_up(n, bl.nr);
  T* d = grow(dst, k * np);
  for (std::size_t pc = 0; pc < k; pc += kc) {
    const std::size_t kb = std::min(kc, k - pc);
    kr.pack_b(kb, n, trans ? w + pc : w + pc * ldw, ldw, trans, d + pc * np);
  }
}

// c (m x n, row stride ldc) = a (m x k, row stride lda) @ the packed weight (+ c when
// accumulate) (+ bias), on the calling thread: the GEMM driver's loops with B already packed.
// Each element's sum runs over the same K blocks in the same order for any m, so the rows of a
// batch may be split in any way.
template <class T>
void recurrent_gemm(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda,
                    const T* packed, T* c, std::size_t ldc, const T* bias, bool accumulate,
                    std::vector<T>& abuf) {
  const NnKernels<T>& kr = nn_kernels<T>();
  const GemmBlocking& bl = kr.blocking;
  const std::size_t kc = balanced_kc(k, bl.kc), np = round_up(n, bl.nr);
  T* ap = grow(abuf, round_up(std::min(m, bl.mc), bl.mr) * kc);
  for (std::size_t pc = 0; pc < k; pc += kc) {
    const std::size_t kb = std::min(kc, k - pc);
    MicroEpilogue<T> e;
    e.load_c = accumulate || pc > 0;
    e.last = pc + kb >= k;
    const T* bp = packed + pc * np;
    for (std::size_t ic = 0; ic < m; ic += bl.mc) {
      const std::size_t mc = std::min(bl.mc, m - ic);
      kr.pack_a(mc, kb, a + ic * lda + pc, lda, false, ap);
      for (std::size_t jr = 0; jr < n; jr += bl.nr) {
        e.bias = bias ? bias + jr : nullptr;
        for (std::size_t ir = 0; ir < mc; ir += bl.mr)
          kr.micro(kb, ap + ir * kb, bp + jr * kb, c + (ic + ir) * ldc + jr, ldc,
                   std::min(bl.mr, mc - ir), std::min(bl.nr, n - jr), e);
      }
    }
  }
}

std::size_t row_length(const std::vector<std::int64_t>& lengths, std::size_t b, std::size_t steps) {
  return lengths.empty() ? steps : static_cast<std::size_t>(lengths[b]);
}

// Sizes the direction's buffers and computes its input projections (one GEMM, all threads).
template <class T>
void project_dir(const RnnDims& d, std::size_t dir, const T* x, const RnnParams<T>& p,
                 RnnWork<T>& w) {
  const std::size_t B = d.batch, S = d.steps, H = d.hidden, GH = rnn_gate_count(d.cell) * H;
  const bool lstm = d.cell == RnnCell::lstm, gru = d.cell == RnnCell::gru;
  auto& b = w.dir[dir];
  T* gx = grow(b.gx, B * S * GH);
  grow(b.gates, B * S * GH);
  grow(b.hp, B * S * H);
  if (lstm) grow(b.cp, B * S * H), grow(b.tc, B * S * H);
  if (gru) grow(b.ghn, B * S * H);
  grow(b.gh, B * GH);
  GemmArgs<T> proj = gemm_args<T>(B * S, GH, d.input, x, d.input, false, p.w_ih, GH, false, gx, GH);
  proj.bias = p.b_ih;
  gemm(proj);
  pack_recurrent(H, GH, p.w_hh, GH, false, b.whh);
}

// The forward sweep of rows [r0, r1) of one direction, on the calling thread. Each row's
// arithmetic does not depend on the other rows (the GEMM never splits K), so any partition of
// the rows gives the same bits.
template <class T>
void sweep_forward(const RnnDims& d, std::size_t dir, std::size_t r0, std::size_t r1,
                   const RnnParams<T>& p, const T* h0, const T* c0, T* y, T* hn, T* cn,
                   std::vector<T>& abuf, RnnWork<T>& w) {
  const RnnKernels<T>& k = rnn_kernels<T>();
  const std::size_t S = d.steps, H = d.hidden, GH = rnn_gate_count(d.cell) * H;
  const std::size_t oh = d.dirs * H, off = dir * H;
  const bool rev = dir == 1, lstm = d.cell == RnnCell::lstm, gru = d.cell == RnnCell::gru;
  auto& b = w.dir[dir];
  const T* gx = b.gx.data();
  T* gates = b.gates.data();
  T* hp = b.hp.data();
  T* cp = lstm ? b.cp.data() : nullptr;
  T* tc = lstm ? b.tc.data() : nullptr;
  T* ghn = gru ? b.ghn.data() : nullptr;
  T* gh = b.gh.data();
  const std::size_t first = rev ? S - 1 : 0;
  for (std::size_t r = r0; r < r1; ++r) {
    T* h = hp + (r * S + first) * H;
    T* c = lstm ? cp + (r * S + first) * H : nullptr;
    if (h0)
      std::memcpy(h, h0 + r * oh + off, H * sizeof(T));
    else
      std::memset(h, 0, H * sizeof(T));
    if (c && c0)
      std::memcpy(c, c0 + r * oh + off, H * sizeof(T));
    else if (c)
      std::memset(c, 0, H * sizeof(T));
  }
  for (std::size_t s = 0; s < S; ++s) {
    const std::size_t t = rev ? S - 1 - s : s;
    recurrent_gemm(r1 - r0, GH, H, hp + (r0 * S + t) * H, S * H, b.whh.data(), gh + r0 * GH, GH,
                   p.b_hh, false, abuf);
    const bool has_next = rev ? t > 0 : t + 1 < S;
    const std::size_t nt = rev ? t - 1 : t + 1;
    for (std::size_t r = r0; r < r1; ++r) {
      const std::size_t row = r * S + t;
      const T* h_prev = hp + row * H;
      T* h_dst = has_next ? hp + (r * S + nt) * H : hn + r * oh + off;
      T* y_dst = d.seq ? y + row * oh + off : nullptr;
      if (t >= row_length(w.lengths, r, S)) {  // padded step: the state passes unchanged
        std::memcpy(h_dst, h_prev, H * sizeof(T));
        if (lstm)
          std::memcpy(has_next ? cp + (r * S + nt) * H : cn + r * oh + off, cp + row * H,
                      H * sizeof(T));
        if (y_dst) std::memset(y_dst, 0, H * sizeof(T));
        continue;
      }
      const T* gxr = gx + row * GH;
      const T* ghr = gh + r * GH;
      if (lstm) {
        T* c_dst = has_next ? cp + (r * S + nt) * H : cn + r * oh + off;
        k.lstm_forward(H, gxr, ghr, cp + row * H, gates + row * GH, c_dst, tc + row * H, h_dst,
                       y_dst);
      } else if (gru) {
        k.gru_forward(H, gxr, ghr, h_prev, gates + row * GH, ghn + row * H, h_dst, y_dst);
      } else {
        T* hv = gates + row * H;
        k.rnn_forward(H, gxr, ghr, hv, y_dst, d.cell == RnnCell::relu);
        std::memcpy(h_dst, hv, H * sizeof(T));
      }
    }
  }
}

// Sweeps of fewer multiply-adds (all steps, all directions) than this run on one thread.
constexpr std::size_t kMinParallelSweep = std::size_t(1) << 20;

// The sweeps of every direction, the rows of each split in `chunks` parts, as work items on the
// threads (one item per thread when threads = dirs * chunks): no synchronization between steps.
template <class T, class F>
void sweep_items(const RnnDims& d, RnnWork<T>& w, F&& body) {
  const std::size_t dirs = d.dirs, batch = d.batch;
  const std::size_t work = dirs * batch * d.steps * d.hidden * d.hidden * rnn_gate_count(d.cell);
  const std::size_t threads =
      work < kMinParallelSweep ? 1 : static_cast<std::size_t>(std::max(get_num_threads(), 1));
  const std::size_t chunks = std::max<std::size_t>(1, std::min(batch, threads / dirs));
  if (w.abuf.size() < dirs * chunks) w.abuf.resize(dirs * chunks);
  parallel_for(dirs * chunks, work, kMinParallelSweep, [&](std::size_t i) {
    const std::size_t dir = i / chunks, c = i % chunks;
    body(dir, batch * c / chunks, batch * (c + 1) / chunks, w.abuf[i]);
  });
}

// Column sums of a (rows x cols, contiguous) into db, rows in order (the activation backward
// pass of the linear activation, in place: a is rewritten with its own values).
template <class T>
void column_sums(std::size_t rows, std::size_t cols, T* a, T* db) {
  act_backward_pass<T>(rows, cols, a, a, a, db, ActGrad<T>{});
}

// The backward sweep of rows [r0, r1) of one direction, on the calling thread (any partition
// of the rows gives the same bits, as for sweep_forward).
template <class T>
void sweep_backward(std::size_t dir, std::size_t r0, std::size_t r1, const T* dy, T* dh0, T* dc0,
                    std::vector<T>& abuf, RnnWork<T>& w) {
  const RnnKernels<T>& k = rnn_kernels<T>();
  const RnnDims& d = w.dims;
  const std::size_t S = d.steps, H = d.hidden, GH = rnn_gate_count(d.cell) * H;
  const std::size_t oh = d.dirs * H, off = dir * H;
  const bool rev = dir == 1, lstm = d.cell == RnnCell::lstm, gru = d.cell == RnnCell::gru;
  auto& b = w.dir[dir];
  T* dgx = b.gx.data();  // the projections are no longer needed: dG of the inputs goes there
  T* dgh = gru ? b.dgh.data() : dgx;
  T* carry = b.carry.data();
  T* dc = lstm ? b.dc.data() : nullptr;
  std::fill(carry + r0 * H, carry + r1 * H, T(0));
  if (lstm) std::fill(dc + r0 * H, dc + r1 * H, T(0));
  const T* gates = b.gates.data();
  const T* hp = b.hp.data();
  for (std::size_t s = 0; s < S; ++s) {
    const std::size_t t = rev ? s : S - 1 - s;
    for (std::size_t r = r0; r < r1; ++r) {
      const std::size_t row = r * S + t, len = row_length(w.lengths, r, S);
      if (t >= len) {  // padded step: no gradient, nothing carried
        std::memset(dgx + row * GH, 0, GH * sizeof(T));
        if (gru) std::memset(dgh + row * GH, 0, GH * sizeof(T));
        std::memset(carry + r * H, 0, H * sizeof(T));
        if (lstm) std::memset(dc + r * H, 0, H * sizeof(T));
        continue;
      }
      const T* dyr = d.seq ? dy + row * oh + off : nullptr;
      const T* dlast = !d.seq && t == (rev ? 0 : len - 1) ? dy + r * oh + off : nullptr;
      if (lstm)
        k.lstm_backward(H, gates + row * GH, b.cp.data() + row * H, b.tc.data() + row * H,
                        carry + r * H, dyr, dlast, dc + r * H, dgx + row * GH);
      else if (gru)
        k.gru_backward(H, gates + row * GH, b.ghn.data() + row * H, hp + row * H, carry + r * H,
                       dyr, dlast, dgx + row * GH, dgh + row * GH);
      else
        k.rnn_backward(H, gates + row * H, carry + r * H, dyr, dlast, dgx + row * GH,
                       d.cell == RnnCell::relu);
    }
    if (s + 1 == S && !dh0) break;  // the gradient of the initial state is not needed
    // GRU accumulates: the direct part dh*z is already in the carry
    recurrent_gemm(r1 - r0, H, GH, dgh + (r0 * S + t) * GH, S * GH, b.whh.data(), carry + r0 * H, H,
                   static_cast<const T*>(nullptr), gru, abuf);
    if (dh0)  // the row's first step (forward: 0, reverse: its last valid step) is done
      for (std::size_t r = r0; r < r1; ++r)
        if (t == (rev ? row_length(w.lengths, r, S) - 1 : 0)) {
          std::memcpy(dh0 + r * oh + off, carry + r * H, H * sizeof(T));
          if (dc0) std::memcpy(dc0 + r * oh + off, dc + r * H, H * sizeof(T));
        }
  }
}

// The weight gradients of one direction after its sweep: single GEMMs over all steps.
template <class T>
void weight_grads(std::size_t dir, const T* x, const RnnGrads<T>& g, RnnWork<T>& w) {
  const RnnDims& d = w.dims;
  const std::size_t B = d.batch, S = d.steps, H = d.hidden, GH = rnn_gate_count(d.cell) * H;
  const bool gru = d.cell == RnnCell::gru;
  auto& b = w.dir[dir];
  T* dgx = b.gx.data();
  T* dgh = gru ? b.dgh.data() : dgx;
  gemm(gemm_args<T>(d.input, GH, B * S, x, d.input, true, dgx, GH, false, g.w_ih, GH));
  gemm(gemm_args<T>(H, GH, B * S, b.hp.data(), H, true, dgh, GH, false, g.w_hh, GH));
  column_sums(B * S, GH, dgx, g.b_ih);
  if (gru)
    column_sums(B * S, GH, dgh, g.b_hh);
  else
    std::copy(g.b_ih, g.b_ih + GH, g.b_hh);
}

}  // namespace

template <class T>
void rnn_forward(const RnnDims& d, const T* x, const std::int64_t* lengths, const RnnParams<T>* p,
                 const T* h0, const T* c0, T* y, T* hn, T* cn, RnnWork<T>& w) {
  w.has_forward = false;
  w.dims = d;
  w.lengths.assign(lengths ? lengths : nullptr, lengths ? lengths + d.batch : nullptr);
  if (lengths) {  // padded steps' inputs may hold anything (NaN, inf): a copy with zeros there
    const std::size_t row = d.steps * d.input;
    T* xz = grow(w.xz, d.batch * row);
    for (std::size_t r = 0; r < d.batch; ++r) {
      const std::size_t valid = static_cast<std::size_t>(lengths[r]) * d.input;
      std::copy(x + r * row, x + r * row + valid, xz + r * row);
      std::fill(xz + r * row + valid, xz + (r + 1) * row, T(0));
    }
    x = xz;
  }
  for (std::size_t i = 0; i < d.dirs; ++i) project_dir(d, i, x, p[i], w);
  sweep_items(d, w, [&](std::size_t dir, std::size_t r0, std::size_t r1, std::vector<T>& abuf) {
    sweep_forward(d, dir, r0, r1, p[dir], h0, c0, y, hn, cn, abuf, w);
  });
  w.has_forward = true;
}

template <class T>
void rnn_backward(const T* x, const RnnParams<T>* p, const T* dy, T* dx, T* dh0, T* dc0,
                  const RnnGrads<T>* g, RnnWork<T>& w) {
  const RnnDims& d = w.dims;
  const std::size_t B = d.batch, S = d.steps, H = d.hidden, GH = rnn_gate_count(d.cell) * H;
  if (!w.lengths.empty()) x = w.xz.data();  // the copy with the padded steps zeroed
  for (std::size_t i = 0; i < d.dirs; ++i) {
    if (d.cell == RnnCell::gru) grow(w.dir[i].dgh, B * S * GH);
    grow(w.dir[i].carry, B * H);
    if (d.cell == RnnCell::lstm) grow(w.dir[i].dc, B * H);
    pack_recurrent(GH, H, p[i].w_hh, GH, true, w.dir[i].whh);  // W_hh^T (G*H x H)
  }
  sweep_items(d, w, [&](std::size_t dir, std::size_t r0, std::size_t r1, std::vector<T>& abuf) {
    sweep_backward(dir, r0, r1, dy, dh0, dc0, abuf, w);
  });
  for (std::size_t i = 0; i < d.dirs; ++i) weight_grads(i, x, g[i], w);
  if (!dx) return;
  for (std::size_t i = 0; i < d.dirs; ++i) {
    GemmArgs<T> a = gemm_args<T>(B * S, d.input, GH, w.dir[i].gx.data(), GH, false, p[i].w_ih, GH,
                                 true, dx, d.input);
    a.accumulate = i > 0;
    gemm(a);
  }
}

template void rnn_forward<float>(const RnnDims&, const float*, const std::int64_t*,
                                 const RnnParams<float>*, const float*, const float*, float*,
                                 float*, float*, RnnWork<float>&);
template void rnn_forward<double>(const RnnDims&, const double*, const std::int64_t*,
                                  const RnnParams<double>*, const double*, const double*, double*,
                                  double*, double*, RnnWork<double>&);
template void rnn_backward<float>(const float*, const RnnParams<float>*, const float*, float*,
                                  float*, float*, const RnnGrads<float>*, RnnWork<float>&);
template void rnn_backward<double>(const double*, const RnnParams<double>*, const double*, double*,
                                   double*, double*, const RnnGrads<double>*, RnnWork<double>&);

}  // namespace cg
