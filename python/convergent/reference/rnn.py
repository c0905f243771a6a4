"""Plain-NumPy reference of the recurrent layers: forward pass and backpropagation through time.

Batch-first sequences ``x (batch, steps, input)``; weights in the (in, out) orientation
``W_ih (input, G*H)``, ``W_hh (H, G*H)``, two biases ``b_ih``, ``b_hh`` (G*H,), gate blocks in
torch's order. With ``gx = x_t @ W_ih + b_ih`` and ``gh = h_{t-1} @ W_hh + b_hh``:

Elman cell (Elman, "Finding Structure in Time", Cognitive Science 1990; torch.nn.RNN)::

    h_t = act(gx + gh)                   act = tanh or relu

LSTM (Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 1997, with the
forget gate of Gers, Schmidhuber & Cummins 2000; torch.nn.LSTM)::

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the four blocks of gx + gh
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

GRU (Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder", EMNLP 2014, in
torch.nn.GRU's form, where the reset gate multiplies W_hn h + b_hn)::

    r, z = sigmoid of the first two blocks of gx + gh
    n    = tanh(gx_n + r * gh_n)
    h_t  = (1 - z) * n + z * h_{t-1}

The states start at zero, or at given initial states h0 (and c0). The reverse direction
(bidirectional) reads the steps from last to first. Variable lengths (torch's packed
sequences): a row of length L runs steps 0..L-1 forward, and L-1..0 in reverse; at the padded
steps t >= L its state passes unchanged and its output is 0.
The output is every step's ``[h_fwd, h_rev]`` (return_sequences) or the final states: the forward
direction's after step L-1 and the reverse direction's after step 0.

Backward (BPTT) differentiates exactly these formulas, step by step in reverse order of the
forward sweep; ``dW_ih``, ``dW_hh`` and the bias gradients are summed over the steps.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GATES", "rnn_backward", "rnn_forward"]

#: Gate blocks per cell.
GATES = {"tanh": 1, "relu": 1, "lstm": 4, "gru": 3}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _act(cell, p):
    return np.tanh(p) if cell == "tanh" else np.maximum(p, 0)


def _dir_forward(cell, x, w_ih, w_hh, b_ih, b_hh, lengths, reverse, h0, c0):
    batch, steps, _ = x.shape
    hidden = w_hh.shape[0]
    h = np.zeros((batch, hidden), x.dtype) if h0 is None else h0
    c = np.zeros((batch, hidden), x.dtype) if c0 is None else c0
    ys = np.zeros((batch, steps, hidden), x.dtype)
    tape = []
    for t in reversed(range(steps)) if reverse else range(steps):
        a = (t < lengths)[:, None]
        gx = x[:, t] @ w_ih + b_ih
        gh = h @ w_hh + b_hh
        rec = {"t": t, "a": a, "h_prev": h, "c_prev": c}
        if cell == "lstm":
            s = np.split(gx + gh, 4, axis=1)
            i, f, o = _sigmoid(s[0]), _sigmoid(s[1]), _sigmoid(s[3])
            g = np.tanh(s[2])
            c_new = f * c + i * g
            tc = np.tanh(c_new)
            h_new = o * tc
            rec.update(i=i, f=f, g=g, o=o, tc=tc)
            c = np.where(a, c_new, c)
        elif cell == "gru":
            xr, xz, xn = np.split(gx, 3, axis=1)
            hr, hz, hn = np.split(gh, 3, axis=1)
            r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
            n = np.tanh(xn + r * hn)
            h_new = (1 - z) * n + z * h
            rec.update(r=r, z=z, n=n, hn=hn)
        else:
            h_new = _act(cell, gx + gh)
            rec.update(h_new=h_new)
        h = np.where(a, h_new, h)
        ys[:, t] = np.where(a, h_new, 0)
        tape.append(rec)
    return ys, h, c, tape


def rnn_forward(cell, x, params, lengths=None, return_sequences=False, h0=None, c0=None):
    """Forward pass. ``cell`` in ``GATES``; ``params`` = [W_ih, W_hh, b_ih, b_hh] (+ the reverse
    direction's four); ``lengths`` None or (batch,) ints in [1, steps]; ``h0``, ``c0`` None
    (zeros) or the initial states (batch, dirs*H), the forward direction's first.

    Returns ``(out, hn, cn, cache)``: out (batch, steps, dirs*H) or (batch, dirs*H), the final
    states hn and cn (batch, dirs*H) (cn zeros except for the LSTM) and the cache of
    :func:`rnn_backward`.
    """
    batch, steps, _ = x.shape
    lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    dirs = len(params) // 4
    ys, hs, cs, tapes = [], [], [], []
    for d in range(dirs):
        hidden = params[1].shape[0]
        part = slice(d * hidden, (d + 1) * hidden)
        h_init = None if h0 is None else h0[:, part]
        c_init = None if c0 is None else c0[:, part]
        y, h, c, tape = _dir_forward(
            cell, x, *params[4 * d : 4 * d + 4], lengths, d == 1, h_init, c_init
        )
        ys.append(y)
        hs.append(h)
        cs.append(c)
        tapes.append(tape)
    hn, cn = np.concatenate(hs, axis=1), np.concatenate(cs, axis=1)
    out = np.concatenate(ys, axis=2) if return_sequences else hn
    cache = (cell, x, params, lengths, return_sequences, tapes)
    return out, hn, cn, cache


def _dir_backward(cell, x, w_ih, w_hh, tape, dys, dlast, lengths, reverse):
    batch, _, _ = x.shape
    hidden = w_hh.shape[0]
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_ih = np.zeros(w_ih.shape[1], x.dtype)
    db_hh = np.zeros(w_ih.shape[1], x.dtype)
    dh = np.zeros((batch, hidden), x.dtype)  # gradient reaching the state after this step
    dc = np.zeros((batch, hidden), x.dtype)
    last = np.zeros(batch, np.int64) if reverse else lengths - 1
    for rec in reversed(tape):
        t, a = rec["t"], rec["a"]
        g_out = dh.copy()
        if dys is not None:
            g_out = g_out + np.where(a, dys[:, t], 0)
        if dlast is not None:
            g_out = g_out + np.where((t == last)[:, None], dlast, 0)
        dnew = np.where(a, g_out, 0)  # reaches the new state only at valid steps
        dkeep = np.where(a, 0, g_out)  # padded step: the state passed through
        if cell == "lstm":
            i, f, g, o, tc = rec["i"], rec["f"], rec["g"], rec["o"], rec["tc"]
            dct = np.where(a, dc, 0) + dnew * o * (1 - tc * tc)
            dgx = np.concatenate(
                [dct * g * i * (1 - i), dct * rec["c_prev"] * f * (1 - f),
                 dct * i * (1 - g * g), dnew * tc * o * (1 - o)], axis=1)  # fmt: skip
            dgh = dgx
            dc = dct * f + np.where(a, 0, dc)
            dh_direct = dkeep
        elif cell == "gru":
            r, z, n, hn = rec["r"], rec["z"], rec["n"], rec["hn"]
            dn = dnew * (1 - z) * (1 - n * n)
            dz = dnew * (rec["h_prev"] - n) * z * (1 - z)
            dr = dn * hn * r * (1 - r)
            dgx = np.concatenate([dr, dz, dn], axis=1)
            dgh = np.concatenate([dr, dz, dn * r], axis=1)
            dh_direct = dnew * z + dkeep
        else:
            hv = rec["h_new"]
            deriv = 1 - hv * hv if cell == "tanh" else (hv > 0).astype(x.dtype)
            dgx = dnew * deriv
            dgh = dgx
            dh_direct = dkeep
        dw_ih += x[:, t].T @ dgx
        dw_hh += rec["h_prev"].T @ dgh
        db_ih += dgx.sum(axis=0)
        db_hh += dgh.sum(axis=0)
        dx[:, t] += dgx @ w_ih.T
        dh = dgh @ w_hh.T + dh_direct
    return dx, [dw_ih, dw_hh, db_ih, db_hh], dh, dc


def rnn_backward(cache, dout, return_initial=False):
    """BPTT of :func:`rnn_forward`: ``dout`` is the gradient of its ``out``. Returns
    ``(dx, grads)`` with grads aligned with ``params``, and with ``return_initial`` also the
    gradients ``dh0``, ``dc0`` (batch, dirs*H) of the initial states."""
    cell, x, params, lengths, return_sequences, tapes = cache
    hidden = params[1].shape[0]
    dx = np.zeros_like(x)
    grads, dh0, dc0 = [], [], []
    for d, tape in enumerate(tapes):
        part = dout[..., d * hidden : (d + 1) * hidden]
        dys, dlast = (part, None) if return_sequences else (None, part)
        w_ih, w_hh = params[4 * d], params[4 * d + 1]
        ddx, g, dh, dc = _dir_backward(cell, x, w_ih, w_hh, tape, dys, dlast, lengths, d == 1)
        dx += ddx
        grads += g
        dh0.append(dh)
        dc0.append(dc)
    if return_initial:
        return dx, grads, np.concatenate(dh0, axis=1), np.concatenate(dc0, axis=1)
    return dx, grads
