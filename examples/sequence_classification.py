"""Variable-length sequence classification: an Embedding and an LSTM over padded token
sequences, with the per-sample lengths handled two ways.

    python examples/sequence_classification.py [--epochs 15]

The task (synthetic, a stand-in for sentiment): sequences of 5 to 40 tokens from a vocabulary of
30 words, of which words 1-5 are "positive" and 6-10 "negative"; the label is 1 when the
sequence holds more positive than negative words (ties are resampled). Sequences are padded at
the end with token 0 to the longest length, 40.

1. ``Embedding(mask_zero=True)``: the layer derives each sample's length from the padding (the
   tokens before the first 0) and the Sequential hands it to the LSTM; ``fit`` needs nothing
   more.
2. Explicit lengths: an Embedding without masking and ``cg.fit(..., lengths=...)``, the lengths
   shuffled and sliced with the rows (the way for inputs that are not tokens).

Either way the padded steps change neither the LSTM's last output nor any gradient: the script
checks that a sample's prediction is the same with and without its padding.
"""

from __future__ import annotations

import argparse
import time

import convergent as cg
import numpy as np

VOCAB, MAX_LEN = 31, 40  # tokens 1..30, 0 is padding


def make_data(n: int, seed: int = 0):
    """``(tokens, lengths, labels)``: int64 tokens (n, MAX_LEN) padded with 0 at the end."""
    rng = np.random.default_rng(seed)
    tokens = np.zeros((n, MAX_LEN), np.int64)
    lengths = np.zeros(n, np.int64)
    labels = np.zeros(n, np.int64)
    i = 0
    while i < n:
        length = int(rng.integers(5, MAX_LEN + 1))
        seq = rng.integers(1, VOCAB, length)
        pos, neg = np.sum(seq <= 5), np.sum((seq >= 6) & (seq <= 10))
        if pos == neg:
            continue
        tokens[i, :length], lengths[i], labels[i] = seq, length, int(pos > neg)
        i += 1
    return tokens, lengths, labels


def build(mask_zero: bool, hidden: int = 32, seed: int = 0) -> cg.nn.Sequential:
    return cg.nn.Sequential(
        [
            cg.nn.Embedding(VOCAB, 16, mask_zero=mask_zero, init="normal"),
            cg.nn.LSTM(16, hidden),
            cg.nn.Dense(hidden, 2),
        ],
        seed=seed,
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--train", type=int, default=4000)
    args = p.parse_args(argv)
    X, L, y = make_data(args.train, seed=0)
    X_te, L_te, y_te = make_data(1000, seed=1)
    loss = cg.nn.SoftmaxCrossEntropy()
    results = {}
    for name, mask_zero in (("mask_zero=True", True), ("explicit lengths", False)):
        model = build(mask_zero)
        opt = cg.optim.Adam(model.parameters(), lr=5e-3)
        t0 = time.perf_counter()
        cg.fit(model, loss, opt, X, y, epochs=args.epochs, batch_size=32, clip_grad_norm=1.0,
               lengths=None if mask_zero else L, progress=False)  # fmt: skip
        secs = time.perf_counter() - t0
        logits = model.forward(X_te, lengths=None if mask_zero else L_te)
        acc = float(np.mean(logits.argmax(1) == y_te))
        results[name] = acc
        # the same sample without its padding gives the same logits
        i = int(np.argmin(L_te))
        alone = model.forward(X_te[i : i + 1, : L_te[i]],
                              lengths=None if mask_zero else L_te[i : i + 1])  # fmt: skip
        same = np.allclose(alone[0], logits[i], rtol=1e-5, atol=1e-6)
        print(f"{name:17s} test accuracy {acc:.4f} in {secs:.1f} s; padding-free prediction of "
              f"a {L_te[i]}-token sample {'matches' if same else 'DIFFERS'}")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
