"""convergent: fast CPU training of neural networks with the optimizers and convergence
techniques practitioners use, in C++/SIMD kernels held to a plain-NumPy reference."""

try:
    from . import _core  # noqa: F401  (imported first: its ValueError for a bad CONVERGENT_ISA)
except ImportError as _e:  # a bad CONVERGENT_ISA is a bad value, not a missing module
    if "CONVERGENT_ISA" in str(_e):
        raise ValueError(str(_e)) from None
    raise
from . import callbacks, nn, optim, reference, schedules, train
from ._core import (
    available_isas,
    get_isa,
    get_num_threads,
    have_openmp,
    set_isa,
    set_num_threads,
)
from ._version import __version__
from .gradcheck import GradcheckError, GradcheckReport, gradcheck
from .train import History, fit

__all__ = [
    "GradcheckError",
    "GradcheckReport",
    "History",
    "__version__",
    "available_isas",
    "callbacks",
    "fit",
    "get_isa",
    "get_num_threads",
    "gradcheck",
    "have_openmp",
    "nn",
    "optim",
    "reference",
    "schedules",
    "set_isa",
    "set_num_threads",
    "train",
]


def __getattr__(name: str):
    # convergent.onnx needs the optional onnx package: imported on first use of cg.onnx
    if name == "onnx":
        import importlib

        return importlib.import_module(".onnx", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
