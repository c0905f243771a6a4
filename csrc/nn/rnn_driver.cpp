// The time loops of the recurrent layers (see nn/rnn_driver.h).
#include "nn/rnn_driver.h"

#include <algorithm>
#include <cstring>

#include "common/parallel.h"
#include "nn/driver.h"
#include "nn/rnn_kernels.h"

namespace cg {
namespace {

// Rows of the gate kernels go to the threads only past this many elements per step.
constexpr std::size_t kMinParallelRows = std::size_t(1) << 14;

template <class T>
T* grow(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

std::size_t row_length(const std::vector<std::int64_t>& lengths, std::size_t b, std::size_t steps) {
  return lengths.empty() ? steps : static_cast<std::size_t>(lengths[b]);
}

template <class T>
void forward_dir(const RnnDims& d, std::size_t dir, const T* x, const RnnParams<T>& p, T* y, T* hn,
                 T* cn, RnnWork<T>& w) {
  const RnnKernels<T>& k = rnn_kernels<T>();
  const std::size_t B = d.batch, S = d.steps, H = d.hidden, GH = rnn_gate_count(d.cell) * H;
  const std::size_t oh = d.dirs * H, off = dir * H;
  const bool rev = dir == 1, lstm = d.cell == RnnCell::lstm, gru = d.cell == RnnCell::gru;
  auto& b = w.dir[dir];
  T* gx = grow(b.gx, B * S * GH);
  T* gates = grow(b.gates, B * S * GH);
  T* hp = grow(b.hp, B * S * H);
  T* cp = lstm ? grow(b.cp, B * S * H) : nullptr;
  T* tc = lstm ? grow(b.tc, B * S * H) : nullptr;
  T* ghn = gru ? grow(b.ghn, B * S * H) : nullptr;
  T* gh = grow(b.gh, B * GH);
  GemmArgs<T> proj = gemm_args<T>(B * S, GH, d.input, x, d.input, false, p.w_ih, GH, false, gx, GH);
  proj.bias = p.b_ih;
  gemm(proj);
  const std::size_t first = rev ? S - 1 : 0;
  for (std::size_t r = 0; r < B; ++r) {
    std::memset(hp + (r * S + first) * H, 0, H * sizeof(T));
    if (lstm) std::memset(cp + (r * S + first) * H, 0, H * sizeof(T));
  }
  for (std::size_t s = 0; s < S; ++s) {
    const std::size_t t = rev ? S - 1 - s : s;
    GemmArgs<T> rec = gemm_args<T>(B, GH, H, hp + t * H, S * H, false, p.w_hh, GH, false, gh, GH);
    rec.bias = p.b_hh;
    gemm(rec);
    const bool has_next = rev ? t > 0 : t + 1 < S;
    const std::size_t nt = rev ? t - 1 : t + 1;
    parallel_for(B, B * GH, kMinParallelRows, [&](std::size_t r) {
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
        return;
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
    });
  }
}

// Column sums of a (rows x cols, contiguous) into db, rows in order (the activation backward
// pass of the linear activation, in place: a is rewritten with its own values).
template <class T>
void column_sums(std::size_t rows, std::size_t cols, T* a, T* db) {
  act_backward_pass<T>(rows, cols, a, a, a, db, ActGrad<T>{});
}

template <class T>
void backward_dir(std::size_t dir, const T* x, const RnnParams<T>& p, const T* dy,
                  const RnnGrads<T>& g, RnnWork<T>& w) {
  const RnnKernels<T>& k = rnn_kernels<T>();
  const RnnDims& d = w.dims;
  const std::size_t B = d.batch, S = d.steps, H = d.hidden, GH = rnn_gate_count(d.cell) * H;
  const std::size_t oh = d.dirs * H, off = dir * H;
  const bool rev = dir == 1, lstm = d.cell == RnnCell::lstm, gru = d.cell == RnnCell::gru;
  auto& b = w.dir[dir];
  T* dgx = b.gx.data();  // the projections are no longer needed: dG of the inputs goes there
  T* dgh = gru ? grow(b.dgh, B * S * GH) : dgx;
  T* carry = grow(b.carry, B * H);
  T* dc = lstm ? grow(b.dc, B * H) : nullptr;
  std::fill(carry, carry + B * H, T(0));
  if (lstm) std::fill(dc, dc + B * H, T(0));
  const T* gates = b.gates.data();
  const T* hp = b.hp.data();
  for (std::size_t s = 0; s < S; ++s) {
    const std::size_t t = rev ? s : S - 1 - s;
    parallel_for(B, B * GH, kMinParallelRows, [&](std::size_t r) {
      const std::size_t row = r * S + t, len = row_length(w.lengths, r, S);
      if (t >= len) {  // padded step: no gradient, nothing carried
        std::memset(dgx + row * GH, 0, GH * sizeof(T));
        if (gru) std::memset(dgh + row * GH, 0, GH * sizeof(T));
        std::memset(carry + r * H, 0, H * sizeof(T));
        if (lstm) std::memset(dc + r * H, 0, H * sizeof(T));
        return;
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
    });
    if (s + 1 == S) break;  // the gradient of the initial state is not needed
    GemmArgs<T> rec =
        gemm_args<T>(B, H, GH, dgh + t * GH, S * GH, false, p.w_hh, GH, true, carry, H);
    rec.accumulate = gru;  // GRU: the direct part dh*z is already there
    gemm(rec);
  }
  gemm(gemm_args<T>(d.input, GH, B * S, x, d.input, true, dgx, GH, false, g.w_ih, GH));
  gemm(gemm_args<T>(H, GH, B * S, hp, H, true, dgh, GH, false, g.w_hh, GH));
  column_sums(B * S, GH, dgx, g.b_ih);
  if (gru)
    column_sums(B * S, GH, dgh, g.b_hh);
  else
    std::copy(g.b_ih, g.b_ih + GH, g.b_hh);
}

}  // namespace

template <class T>
void rnn_forward(const RnnDims& d, const T* x, const std::int64_t* lengths, const RnnParams<T>* p,
                 T* y, T* hn, T* cn, RnnWork<T>& w) {
  w.has_forward = false;
  w.dims = d;
  w.lengths.assign(lengths ? lengths : nullptr, lengths ? lengths + d.batch : nullptr);
  if (d.dirs == 2)
    parallel_pair([&] { forward_dir(d, 0, x, p[0], y, hn, cn, w); },
                  [&] { forward_dir(d, 1, x, p[1], y, hn, cn, w); });
  else
    forward_dir(d, 0, x, p[0], y, hn, cn, w);
  w.has_forward = true;
}

template <class T>
void rnn_backward(const T* x, const RnnParams<T>* p, const T* dy, T* dx, const RnnGrads<T>* g,
                  RnnWork<T>& w) {
  const RnnDims& d = w.dims;
  if (d.dirs == 2)
    parallel_pair([&] { backward_dir(0, x, p[0], dy, g[0], w); },
                  [&] { backward_dir(1, x, p[1], dy, g[1], w); });
  else
    backward_dir(0, x, p[0], dy, g[0], w);
  if (!dx) return;
  const std::size_t GH = rnn_gate_count(d.cell) * d.hidden, rows = d.batch * d.steps;
  for (std::size_t i = 0; i < d.dirs; ++i) {
    GemmArgs<T> a = gemm_args<T>(rows, d.input, GH, w.dir[i].gx.data(), GH, false, p[i].w_ih, GH,
                                 true, dx, d.input);
    a.accumulate = i > 0;
    gemm(a);
  }
}

template void rnn_forward<float>(const RnnDims&, const float*, const std::int64_t*,
                                 const RnnParams<float>*, float*, float*, float*, RnnWork<float>&);
template void rnn_forward<double>(const RnnDims&, const double*, const std::int64_t*,
                                  const RnnParams<double>*, double*, double*, double*,
                                  RnnWork<double>&);
template void rnn_backward<float>(const float*, const RnnParams<float>*, const float*, float*,
                                  const RnnGrads<float>*, RnnWork<float>&);
template void rnn_backward<double>(const double*, const RnnParams<double>*, const double*, double*,
                                   const RnnGrads<double>*, RnnWork<double>&);

}  // namespace cg
