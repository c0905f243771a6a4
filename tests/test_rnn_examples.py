"""The recurrent networks on real tasks, small versions of the examples (each states its bar):

- the adding problem (examples/adding_problem.py) at T=30 with hidden 16, 2000 training
  sequences and 25 epochs: LSTM and GRU reach a test MSE below 0.01 (the always-1.0 baseline is
  about 0.167);
- digits read row by row (examples/digits_rnn.py): a bidirectional GRU with hidden 24 trained
  12 epochs reaches at least 94% test accuracy (the full example: 97%);
- variable lengths (examples/sequence_classification.py): an Embedding(mask_zero=True) + LSTM
  classifier reaches 95% after 4 epochs, and padding does not change a prediction;
- ``convergent demo --model rnn`` runs and writes its figure.

They need the recurrent layers (cg.nn.LSTM, cg.nn.GRU) and skip only while those are absent."""

from __future__ import annotations

import sys
from pathlib import Path

import convergent as cg
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

if not hasattr(cg.nn, "LSTM"):
    pytest.skip("cg.nn.LSTM is not in this build yet", allow_module_level=True)

import adding_problem  # noqa: E402
import digits_rnn  # noqa: E402
import sequence_classification  # noqa: E402


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_adding_problem_small(cell, threads):
    threads(1)  # about learning; thread counts are tested for bits elsewhere
    X, y = adding_problem.adding_data(2000, 30, seed=0)
    X_te, y_te = adding_problem.adding_data(500, 30, seed=100)
    baseline = float(np.mean((1.0 - y_te) ** 2))
    assert 0.13 < baseline < 0.2
    model = adding_problem.build(cell, hidden=16, seed=0)
    adding_problem.train(model, X, y, epochs=25, batch_size=32, lr=1e-2)
    assert adding_problem.test_mse(model, X_te, y_te) < 0.01


def test_digits_bidirectional_gru_small(threads):
    pytest.importorskip("sklearn", reason="the digits data set comes with scikit-learn")
    threads(1)
    X_tr, X_te, y_tr, y_te = digits_rnn.digit_rows()
    assert X_tr.shape[1:] == (8, 8)
    model = digits_rnn.build(hidden=24, seed=0)
    digits_rnn.train(model, X_tr, y_tr, epochs=12)
    assert digits_rnn.accuracy(model, X_te, y_te) >= 0.94


def test_sequence_classification_small(threads):
    threads(1)
    X, lengths, y = sequence_classification.make_data(1500, seed=0)
    X_te, L_te, y_te = sequence_classification.make_data(500, seed=1)
    assert np.all(X[np.arange(X.shape[1])[None, :] >= lengths[:, None]] == 0)
    model = sequence_classification.build(mask_zero=True)
    opt = cg.optim.Adam(model.parameters(), lr=5e-3)
    cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=4, batch_size=32,
           clip_grad_norm=1.0, progress=False)  # fmt: skip
    logits = model.forward(X_te)
    assert np.mean(logits.argmax(1) == y_te) >= 0.95
    i = int(np.argmin(L_te))
    alone = model.forward(X_te[i : i + 1, : L_te[i]])
    np.testing.assert_allclose(alone[0], logits[i], rtol=1e-5, atol=1e-6)


def test_demo_rnn_runs(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from convergent import cli

    out = tmp_path / "rnn.png"
    argv = ["demo", "--model", "rnn", "--epochs", "2", "--optimizers", "sgd,adam",
            "--output", str(out), "--threads", "1", "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {ln.split()[0]: ln.split() for ln in capsys.readouterr().out.splitlines()[1:3]}
    assert set(rows) == {"SGD", "Adam"}
    for r in rows.values():
        assert float(r[1]) < 2.3 and 0.2 < float(r[2]) <= 1.0 and r[3] == "2"
