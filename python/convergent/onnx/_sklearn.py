"""ONNX for the scikit-learn estimators: MLPClassifier outputs ``label`` and ``probabilities``,
MLPRegressor ``variable``, as scikit-learn's own converters (skl2onnx) give them; and the
converter registered with skl2onnx so that pipelines ending in one of them convert."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._export import convert_layer
from ._graph import Graph, Tensor

__all__ = ["estimator_model", "register_skl2onnx"]


def _is_classifier(est: Any) -> bool:
    return hasattr(est, "classes_")


def _classes(g: Graph, est: Any) -> str:
    classes = np.asarray(est.classes_)
    if classes.dtype.kind in "iub":
        return g.const(classes.astype(np.int64), "classes", np.int64)
    if classes.dtype.kind in "UO":
        return g.const(np.array([str(c) for c in classes], dtype=object), "classes", object)
    raise TypeError(f"classes of dtype {classes.dtype} have no ONNX label type (ints or strings)")


def _head(g: Graph, est: Any, x: Tensor, outputs: list[str], nocl: bool = False) -> None:
    """The estimator on ``x`` (n_samples, n_features): its network, then its output function,
    writing ``outputs`` ([label, probabilities] or [variable]). ``nocl`` (skl2onnx's option):
    the label is the class's index instead of the class."""
    logits = convert_layer(g, est.model_, x).name
    kind = est._head.kind
    if kind == "identity":
        g.node("Identity", [logits], "variable", outputs=[outputs[0]])
        return
    label, proba = outputs
    if kind == "softmax":
        g.node("Softmax", [logits], "probabilities", outputs=[proba], axis=1)
    elif est.n_outputs_ == 1 and len(est.classes_) <= 2:  # binary: [1 - p, p]
        p = g.node("Sigmoid", [logits], "p")
        q = g.node("Sub", [g.const(np.ones((1, 1)), "one"), p], "one_minus_p")
        g.node("Concat", [q, p], "probabilities", outputs=[proba], axis=1)
    else:  # multilabel: one probability per label, label = p > 0.5
        g.node("Sigmoid", [logits], "probabilities", outputs=[proba])
        above = g.node("Greater", [proba, g.const(np.full((1, 1), 0.5), "half")], "above")
        g.node("Cast", [above], "label", outputs=[label], to=7)  # INT64
        return
    if nocl:
        g.node("ArgMax", [proba], "label", outputs=[label], axis=1, keepdims=0)
        return
    idx = g.node("ArgMax", [proba], "argmax", axis=1, keepdims=0)
    g.node("Gather", [_classes(g, est), idx], "label", outputs=[label], axis=0)


def estimator_model(est: Any, opset: int = 17) -> Any:
    """The ``onnx.ModelProto`` of a fitted MLPClassifier / MLPRegressor (input "X")."""
    from onnx import TensorProto, checker, helper

    from .. import __version__
    from . import _images, _recurrent  # noqa: F401

    if not hasattr(est, "model_"):
        raise ValueError(f"{type(est).__name__} is not fitted: call fit before exporting it")
    g = Graph(est.model_.parameters()[0].dtype, opset)
    x = helper.make_tensor_value_info(g.reserve("X"), g.elem_type, ["N", est.n_features_in_])
    if _is_classifier(est):
        names = [g.reserve("label"), g.reserve("probabilities")]
        multilabel = est._head.kind == "logistic" and est.n_outputs_ > 1
        kind = np.asarray(est.classes_).dtype.kind
        label_type = TensorProto.STRING if kind in "UO" else TensorProto.INT64
        outs = [helper.make_tensor_value_info(names[0], label_type,
                                              ["N", est.n_outputs_] if multilabel else ["N"]),
                helper.make_tensor_value_info(names[1], g.elem_type, ["N", None])]  # fmt: skip
    else:
        names = [g.reserve("variable")]
        outs = [helper.make_tensor_value_info(names[0], g.elem_type, ["N", est.n_outputs_])]
    _head(g, est, Tensor("X", 2, (0, 1)), names)
    graph = helper.make_graph(g.nodes, type(est).__name__, [x], outs, initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", int(opset))],
                              producer_name="convergent", producer_version=__version__)  # fmt: skip
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
    checker.check_model(model, full_check=True)
    return model


# ---- skl2onnx --------------------------------------------------------------------------------
def _nocl(scope: Any, est: Any) -> bool:
    options = scope.get_options(est, {"nocl": False}) if _is_classifier(est) else {}
    return bool(options.get("nocl", False))


def _shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    est = operator.raw_operator
    nocl = _nocl(operator.scope_inst, est)
    n = operator.inputs[0].get_first_dimension()
    in_type = type(operator.inputs[0].type)
    if not _is_classifier(est):
        operator.outputs[0].type = in_type([n, est.n_outputs_])
        return
    if est._head.kind == "logistic" and est.n_outputs_ > 1:
        operator.outputs[0].type = Int64TensorType([n, est.n_outputs_])
    elif np.asarray(est.classes_).dtype.kind in "UO" and not nocl:
        operator.outputs[0].type = StringTensorType([n])
    else:
        operator.outputs[0].type = Int64TensorType([n])
    operator.outputs[1].type = in_type([n, len(est.classes_) if est.n_outputs_ == 1 else
                                        est.n_outputs_])  # fmt: skip


def _convert(scope: Any, operator: Any, container: Any) -> None:
    from onnx import helper
    from skl2onnx.common.data_types import guess_numpy_type

    from . import _images, _recurrent  # noqa: F401

    est = operator.raw_operator
    dtype = guess_numpy_type(operator.inputs[0].type)
    prefix = scope.get_unique_operator_name(type(est).__name__) + "/"
    g = Graph(dtype, container.target_opset, prefix=prefix)
    _head(g, est, Tensor(operator.inputs[0].full_name, 2, (0, 1)),
          [o.full_name for o in operator.outputs], _nocl(scope, est))  # fmt: skip
    for init in g.initializers:
        content = list(init.string_data) if init.data_type == 8 else init  # 8: STRING
        container.add_initializer(init.name, init.data_type, list(init.dims), content)
    for node in g.nodes:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        container.add_node(node.op_type, list(node.input), list(node.output), name=node.name,
                           **attrs)  # fmt: skip


def register_skl2onnx() -> bool:
    """Registers MLPClassifier and MLPRegressor with skl2onnx (a no-op without skl2onnx or
    scikit-learn); returns whether it did."""
    try:
        from skl2onnx import update_registered_converter

        from ..sklearn import MLPClassifier, MLPRegressor
    except ImportError:
        return False
    update_registered_converter(MLPClassifier, "ConvergentMLPClassifier", _shapes, _convert,
                                options={"zipmap": [True, False, "columns"],
                                         "nocl": [False, True]})  # fmt: skip
    update_registered_converter(MLPRegressor, "ConvergentMLPRegressor", _shapes, _convert)
    return True
