"""Sequential: seeding, parameters, state_dict, portable save/load, the layer registry."""

import io
import zipfile

import convergent as cg
import numpy as np
import pytest
from _train_helpers import Linear, Tanh


def _model(seed=0, p=0.2):
    return cg.nn.Sequential(
        [
            Linear(4, 8),
            Tanh(),
            cg.nn.Dropout(p),
            cg.nn.BatchNorm(8, dtype=np.float64),
            cg.nn.Residual([Linear(8, 8), Tanh()]),
            Linear(8, 3),
        ],
        seed=seed,
    )


def _run(model, x):
    out = model.forward(x, training=True)
    model.backward(np.ones_like(out))
    return [out.tobytes()] + [g.tobytes() for g in model.gradients()]


def test_same_seed_same_bits_and_different_seed_differs():
    x = np.random.default_rng(0).standard_normal((10, 4))
    a, b, c = _model(3), _model(3), _model(4)
    assert _run(a, x) == _run(b, x)
    assert _run(a, x) == _run(b, x)  # the dropout streams advance alike
    assert [p.tobytes() for p in a.parameters()] != [p.tobytes() for p in c.parameters()]


def test_parameters_gradients_penalty_and_names():
    m = cg.nn.Sequential([Linear(3, 4, l2=0.5), Tanh(), Linear(4, 2, l2=0.25)], seed=1)
    assert len(m.parameters()) == len(m.gradients()) == 4
    assert list(m.named_parameters()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    m.forward(np.ones((2, 3)))
    want = 0.5 * np.sum(m.layers[0].parameters()[0] ** 2) + 0.25 * np.sum(
        m.layers[2].parameters()[0] ** 2
    )
    assert m.penalty() == pytest.approx(want)
    assert m.parameters()[0] is m.layers[0].parameters()[0]
    assert len(m) == 3 and m[1] is m.layers[1]


def test_backward_skips_first_input_grad_on_request():
    m = cg.nn.Sequential([Linear(3, 4), Tanh(), Linear(4, 2)])
    m.forward(np.ones((2, 3)))
    assert m.backward(np.ones((2, 2)), need_input_grad=False) is None
    assert m.layers[0].need_input_grad_seen is False
    assert m.backward(np.ones((2, 2))).shape == (2, 3)


def test_state_dict_round_trip_and_validation():
    a, b = _model(1), _model(2)
    a.forward(np.random.default_rng(0).standard_normal((6, 4)), training=True)
    sd = a.state_dict()
    assert "3.running_mean" in sd and "4.0.weight" in sd
    sd["0.weight"][0, 0] = 123.0  # a copy: the model is unaffected
    assert a.layers[0].parameters()[0][0, 0] != 123.0
    sd = a.state_dict()
    before = [p.copy() for p in b.parameters()]
    ids = [id(p) for p in b.parameters()]
    bad = dict(sd)
    bad["5.bias"] = np.zeros(4)
    with pytest.raises(ValueError, match="5.bias"):
        b.load_state_dict(bad)
    bad = dict(sd)
    bad["5.bias"] = sd["5.bias"].astype(np.float32)
    with pytest.raises(ValueError, match="dtype"):
        b.load_state_dict(bad)
    bad = dict(sd)
    del bad["3.num_batches_tracked"]
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict(bad)
    for p, q in zip(b.parameters(), before):
        np.testing.assert_array_equal(p, q)  # nothing changed on error
    b.load_state_dict(sd)
    assert [id(p) for p in b.parameters()] == ids
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])


def test_save_load_portable_no_pickle(tmp_path):
    m = _model(5)
    x = np.random.default_rng(0).standard_normal((6, 4))
    m.forward(x, training=True)
    path = tmp_path / "model.bin"  # the name is used as given
    m.save(path)
    assert path.exists()
    with zipfile.ZipFile(path) as z:
        assert all(n.endswith(".npy") for n in z.namelist())
    with np.load(path, allow_pickle=False) as f:
        assert "__meta__" in f.files
    m2 = cg.nn.load(path)
    assert repr(m2) == repr(m)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(m2.state_dict()[k], v)
    # the dropout stream continues where it was
    assert _run(m, x) == _run(m2, x)
    buf = io.BytesIO()
    m.save(buf)
    buf.seek(0)
    assert repr(cg.nn.load(buf)) == repr(m)


def test_unregistered_layer_cannot_be_saved(tmp_path):
    class Mine(cg.nn.Layer):
        def forward(self, x, training=False):
            return x

        def get_config(self):
            return {}

    m = cg.nn.Sequential([Mine()])
    with pytest.raises(ValueError, match="register_layer"):
        m.save(tmp_path / "m.npz")
    cg.nn.register_layer(Mine, name="test_sequential_Mine")
    m.save(tmp_path / "m.npz")
    assert isinstance(cg.nn.load(tmp_path / "m.npz").layers[0], Mine)
    with pytest.raises(TypeError):
        cg.nn.register_layer(int)


def test_bad_constructor_arguments():
    with pytest.raises(TypeError):
        cg.nn.Sequential(Linear(2, 2))
    with pytest.raises(ValueError, match="seed"):
        cg.nn.Sequential([Linear(2, 2)], seed=-1)
    with pytest.raises(TypeError):
        cg.nn.Sequential([object()])
    with pytest.raises(ValueError, match="unknown layer type"):
        cg.nn.Sequential([{"type": "NoSuchLayer", "config": {}}])


def test_seed_none_keeps_layers():
    lin = Linear(2, 2)
    w = lin.parameters()[0].copy()
    cg.nn.Sequential([lin], seed=None)
    np.testing.assert_array_equal(lin.parameters()[0], w)
    cg.nn.Sequential([lin], seed=0)
    assert not np.array_equal(lin.parameters()[0], w)
