// Recurrent layers over batch-first sequences (batch, steps, features): the time loops around the
// GEMM (nn/driver.h) and the fused gate kernels (nn/rnn_kernels.h).
//
// Forward, per direction: the input projections of all steps as one GEMM
// (gx = x @ W_ih + b_ih, (batch*steps) x G*H); per step one recurrent GEMM
// (gh = h_{t-1} @ W_hh + b_hh) and the gate kernel on each row of the batch. Backward through
// time, per step: the gate kernel (derivatives fused) and one GEMM carrying the gradient to
// h_{t-1}; after the sweep dW_ih = x^T @ dG, dW_hh = H_prev^T @ dG_h as single GEMMs over all
// steps, the bias gradients as column sums, and dx = dG @ W_ih^T. Variable lengths: a row whose
// length is <= t carries its state through step t unchanged, outputs 0 there and gets no
// gradient (torch's packed sequences). The two directions run on separate threads when two are
// allowed; every result is the same bits for any thread count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cg {

enum class RnnCell : int { tanh = 0, relu = 1, lstm = 2, gru = 3 };

inline std::size_t rnn_gate_count(RnnCell c) {
  return c == RnnCell::lstm ? 4 : c == RnnCell::gru ? 3 : 1;
}

struct RnnDims {
  RnnCell cell = RnnCell::tanh;
  std::size_t batch = 0, steps = 0, input = 0, hidden = 0, dirs = 1;
  bool seq = false;  // outputs of every step (else the last valid step's)
};

// One direction's parameters: w_ih (input, G*H), w_hh (H, G*H), b_ih, b_hh (G*H).
template <class T>
struct RnnParams {
  const T *w_ih = nullptr, *w_hh = nullptr, *b_ih = nullptr, *b_hh = nullptr;
};
template <class T>
struct RnnGrads {
  T *w_ih = nullptr, *w_hh = nullptr, *b_ih = nullptr, *b_hh = nullptr;
};

// What the forward pass keeps for the backward pass, and the scratch of both; buffers grow on
// demand and are reused by later calls (no allocation once the sizes are reached).
template <class T>
struct RnnWork {
  RnnDims dims;
  bool has_forward = false;
  std::vector<std::int64_t> lengths;  // empty: every row has all the steps
  std::vector<T> xz;                  // with lengths: x with its padded steps zeroed
  struct Dir {
    std::vector<T> gx;     // input projections, then dG of the inputs (batch*steps, G*H)
    std::vector<T> gates;  // gate activations (batch*steps, G*H); h_t for the Elman cell
    std::vector<T> hp;     // state before each step (batch*steps, H)
    std::vector<T> cp;     // LSTM: cell before each step
    std::vector<T> tc;     // LSTM: tanh of the cell after each step
    std::vector<T> ghn;    // GRU: W_hn h_{t-1} + b_hn
    std::vector<T> dgh;    // GRU: dG of the recurrent projection
    std::vector<T> gh;     // one step's recurrent projection (batch, G*H)
    std::vector<T> carry;  // gradient reaching h_{t-1} (batch, H)
    std::vector<T> dc;     // LSTM: gradient reaching c_{t-1}
    std::vector<T> whh;    // W_hh (forward) or W_hh^T (backward) packed for the GEMM microkernel
  } dir[2];
  std::vector<std::vector<T>> abuf;  // packed rows of h_{t-1} or dG_t, one per work item
};

// y (batch, steps, dirs*H) when dims.seq (else null); hn (batch, dirs*H) the final states (the
// forward direction's after each row's last step, the reverse's after step 0), cn the LSTM's
// cells likewise (null for the other cells). lengths: null, or batch values in [1, steps].
// h0, c0 (batch, dirs*H): the initial states, or null for zeros (c0 for the LSTM only).
template <class T>
void rnn_forward(const RnnDims& d, const T* x, const std::int64_t* lengths, const RnnParams<T>* p,
                 const T* h0, const T* c0, T* y, T* hn, T* cn, RnnWork<T>& w);

// Backward of the last rnn_forward on w (same x and parameters): dy is (batch, steps, dirs*H)
// when seq, else (batch, dirs*H); writes the gradients g[dir] and, when not null, dx and the
// gradients dh0, dc0 (batch, dirs*H) of the initial states.
template <class T>
void rnn_backward(const T* x, const RnnParams<T>* p, const T* dy, T* dx, T* dh0, T* dc0,
                  const RnnGrads<T>* g, RnnWork<T>& w);

}  // namespace cg
