"""CNNs in the training machinery: a small residual CNN learns the 8x8 digits (>= 97% on a
stratified 25% hold-out), fit is deterministic, checkpoints resume bit-exactly, save/load and
state_dict round-trip, gradcheck passes on a whole CNN, and the demo's --model cnn runs."""

from __future__ import annotations

import sys
from pathlib import Path

import convergent as cg
import numpy as np
import pytest
from convergent.callbacks import EarlyStopping, ModelCheckpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
pytest.importorskip("sklearn", reason="the digits data set comes with scikit-learn")
from train_digits_cnn import accuracy, build_cnn, load_digit_images, train  # noqa: E402


def _bits(model):
    return [v.tobytes() for v in model.state_dict().values()]


def test_small_cnn_learns_digits(threads):
    # One thread: this test is about learning (thread counts are tested for bits elsewhere), and
    # ~700 small steps on a machine whose cores are busy would mostly wait for the second one.
    threads(1)
    X_tr, X_te, y_tr, y_te = load_digit_images()
    model = build_cnn(width=16, seed=0)
    train(model, X_tr, y_tr, epochs=8, lr=4e-3)
    assert accuracy(model, X_te, y_te) >= 0.97


def _tiny(seed=0, dtype=np.float32):
    nn = cg.nn
    return nn.Sequential(
        [nn.Conv2D(1, 4, 3, padding="same", dtype=dtype), nn.BatchNorm(4, dtype=dtype),
         nn.ReLU(), nn.MaxPool2D(2),
         nn.Residual([nn.Conv2D(4, 4, 3, padding=1, activation="relu", dtype=dtype)]),
         nn.Dropout(0.1), nn.Flatten(), nn.Dense(64, 10, dtype=dtype)],
        seed=seed,
    )  # fmt: skip


def _fit(model, epochs, **kw):
    X_tr, _, y_tr, _ = load_digit_images()
    opt = kw.pop("opt", None) or cg.optim.Adam(model.parameters(), lr=1e-2)
    h = cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X_tr[:320], y_tr[:320], epochs=epochs,
               batch_size=32, progress=False, **kw)  # fmt: skip
    return model, opt, h


def test_fit_deterministic_and_checkpoint_resume_bit_exact(tmp_path):
    common = dict(seed=3, validation_split=0.25)
    full, _, hfull = _fit(_tiny(1), 3, **common)
    again, _, _ = _fit(_tiny(1), 3, **common)
    assert _bits(full) == _bits(again)
    path = tmp_path / "ckpt-{epoch}.npz"
    _fit(_tiny(1), 2, callbacks=[ModelCheckpoint(path)], **common)
    ckpt = cg.train.load_checkpoint(tmp_path / "ckpt-2.npz")
    resumed, _, hres = _fit(ckpt.model, 3, opt=ckpt.optimizer, initial_epoch=2, **common)
    assert _bits(resumed) == _bits(full)
    assert hres.history["loss"] == hfull.history["loss"][2:]


@pytest.mark.skipif(not cg.have_openmp(), reason="built without OpenMP")
def test_fit_one_vs_two_threads_same_bits(threads):
    runs = []
    for t in (1, 2):
        threads(t)
        model, _, h = _fit(_tiny(4), 1, seed=1)
        runs.append((_bits(model), h.history["loss"]))
    assert runs[0] == runs[1]


def test_save_load_state_dict_and_early_stopping(tmp_path):
    stop = EarlyStopping(patience=1, restore_best_weights=True)
    model, _, h = _fit(_tiny(2), 3, validation_split=0.25, callbacks=[stop])
    assert h.history["val_accuracy"][-1] > 0.5
    X = load_digit_images()[1][:16]
    model.save(tmp_path / "cnn.npz")
    loaded = cg.nn.load(tmp_path / "cnn.npz")
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))
    other = _tiny(9)
    other.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(other.forward(X), model.forward(X))
    assert [type(a) for a in loaded.layers] == [type(a) for a in model.layers]


def test_gradcheck_whole_cnn():
    rng = np.random.default_rng(0)
    model = _tiny(3, np.float64)
    X = rng.random((4, 8, 8, 1))
    report = cg.gradcheck(model, cg.nn.SoftmaxCrossEntropy(), X, rng.integers(0, 10, 4),
                          training=True)  # fmt: skip
    assert report.passed, str(report)


def test_demo_model_cnn(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from convergent import cli

    out = tmp_path / "cnn.png"
    argv = ["demo", "--model", "cnn", "--epochs", "2", "--optimizers", "adam,lbfgs",
            "--output", str(out), "--threads", "1", "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = capsys.readouterr().out.splitlines()
    rows = {ln.split()[0]: ln.split() for ln in lines[1:3]}
    assert set(rows) == {"Adam", "L-BFGS"}
    assert 0.5 < float(rows["Adam"][2]) <= 1.0 and rows["Adam"][3] == "2"
    assert cli.main(["demo", "--model", "cnn", "--optimizers", "lamb", "--no-progress"]) == 2
    with pytest.raises(SystemExit):
        cli.main(["demo", "--model", "transformer"])


def test_denoising_autoencoders_denoise(threads, capsys):
    threads(1)
    import denoising_autoencoder as dae

    results = dae.main(["denoising_autoencoder.py", "8"])
    for name, (recon, noisy) in results.items():
        assert recon < 0.5 * noisy, name
    assert "conv autoencoder: reconstruction MSE" in capsys.readouterr().out
