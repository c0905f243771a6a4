"""Shared checks of the ONNX tests: export a model, run it in onnxruntime, load it back.

Tolerances: onnxruntime against ``model.forward(x, training=False)`` to rtol 1e-5 in float32
and 1e-10 in float64, with an absolute floor of the same factor times the output's largest
magnitude (an output entry that cancels to near zero has no meaningful relative error).
The round trip export -> load -> forward must give the same bits.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra (pip install convergent[onnx])")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra (pip install convergent[onnx])")

import convergent as cg  # noqa: E402

RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


def run_ort(proto, feeds):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def assert_close(got, want):
    rtol = RTOL[np.dtype(want.dtype)]
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(scale, 1e-30))


def check_export(model, x, input_shape=None, *, ort_run=True, batches=(None,), **kw):
    """Exports ``model``; the ONNX model passes the checker, onnxruntime gives
    ``model.forward`` (for ``x`` and for its first rows: the batch size is free), and the
    model loaded back gives the same bits. Returns the proto."""
    if not model.parameters() and x.dtype.kind == "f":  # no weights to tell the float type
        kw.setdefault("dtype", x.dtype)
    proto = cg.onnx.build_model(model, input_shape, **kw)
    onnx.checker.check_model(proto, full_check=True)
    want = model.forward(x, training=False)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    if ort_run:
        assert_close(run_ort(proto, {"input": x})[0], want)
        assert_close(run_ort(proto, {"input": x[:1]})[0], want[:1])
    back = cg.onnx.load(proto)
    got = back.forward(x, training=False)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    return proto


def ops(proto):
    return [n.op_type for n in proto.graph.node]
