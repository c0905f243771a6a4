// Fused gate kernels of the recurrent cells, one row of the batch per call, one table per ISA
// (nn/rnn.h, compiled by nn/rnn_table.cpp); the time loop, the GEMMs and the threads live in the
// portable nn/rnn_driver.cpp.
//
// Gate orders are torch's: LSTM (i, f, g, o), GRU (r, z, n). `gx` is the row's input projection
// x_t @ W_ih + b_ih, `gh` the recurrent one h_{t-1} @ W_hh + b_hh (G*H elements each).
// In the backward kernels the gradient reaching h_t is dh = carry + dy + dlast, where `dy` (the
// output's gradient at this step) and `dlast` (the gradient of the last-step output) may be null.
#pragma once
#include <cstddef>

namespace cg {

template <class T>
struct RnnKernels {
  // LSTM: i, f, o = sigmoid, g = tanh of gx + gh; c = f*c_prev + i*g; tc = tanh(c); h = o*tc.
  // Writes gates (the four activations, 4H), c, tc, h and, when not null, y (= h).
  void (*lstm_forward)(std::size_t hidden, const T* gx, const T* gh, const T* c_prev, T* gates,
                       T* c, T* tc, T* h, T* y);
  // LSTM backward of one step: with dc = dc_io + dh*o*(1 - tc^2), writes dg (4H) =
  // (dc*g*i(1-i), dc*c_prev*f(1-f), dc*i*(1-g^2), dh*tc*o(1-o)) and dc_io = dc*f.
  void (*lstm_backward)(std::size_t hidden, const T* gates, const T* c_prev, const T* tc,
                        const T* carry, const T* dy, const T* dlast, T* dc_io, T* dg);
  // GRU: r, z = sigmoid(gx + gh), n = tanh(gx_n + r*gh_n), h = (1 - z)*n + z*h_prev.
  // Writes gates (r, z, n: 3H), ghn (= gh_n, H), h and, when not null, y.
  void (*gru_forward)(std::size_t hidden, const T* gx, const T* gh, const T* h_prev, T* gates,
                      T* ghn, T* h, T* y);
  // GRU backward of one step, dh = carry_io + dy + dlast: dn = dh*(1-z)*(1-n^2),
  // dz = dh*(h_prev - n)*z(1-z), dr = dn*ghn*r(1-r); writes dgx = (dr, dz, dn),
  // dgh = (dr, dz, dn*r) and carry_io = dh*z (the direct part of dh_prev).
  void (*gru_backward)(std::size_t hidden, const T* gates, const T* ghn, const T* h_prev,
                       T* carry_io, const T* dy, const T* dlast, T* dgx, T* dgh);
  // Elman cell: h = act(gx + gh), act tanh (relu when `relu`); y (if not null) = h.
  void (*rnn_forward)(std::size_t hidden, const T* gx, const T* gh, T* h, T* y, bool relu);
  // dg = dh * act'(h) with act' from the output h (1 - h^2, or h > 0).
  void (*rnn_backward)(std::size_t hidden, const T* h, const T* carry, const T* dy, const T* dlast,
                       T* dg, bool relu);
};

namespace scalar {
template <class T>
const RnnKernels<T>& rnn_kernels();
}
namespace avx2 {
template <class T>
const RnnKernels<T>& rnn_kernels();
}
namespace avx512 {
template <class T>
const RnnKernels<T>& rnn_kernels();
}
template <class T>
const RnnKernels<T>& rnn_kernels();

}  // namespace cg
