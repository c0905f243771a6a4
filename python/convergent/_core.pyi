"""Type stubs of convergent's compiled module (private: use the convergent package)."""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

_Arr = npt.NDArray[np.floating]
_Arrs = Sequence[_Arr]

def available_isas() -> list[str]: ...
def get_isa() -> str: ...
def set_isa(isa: str) -> None: ...
def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def have_openmp() -> bool: ...
def parallel_testing(
    delay_us: int = 0, shuffle_seed: int = 0, delay_caller: bool = False, adaptive: bool = True
) -> None: ...
def parallel_stats() -> dict[str, int]: ...

# ---- optimizers: one call updates a whole group in place --------------------------------------
def sgd_step(
    params: _Arrs,
    grads: _Arrs,
    momentum_buffers: _Arrs | None,
    steps: Sequence[int] | None,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
    dry_run: bool = False,
) -> None: ...
def adam_step(
    params: _Arrs,
    grads: _Arrs,
    exp_avgs: _Arrs,
    exp_avg_sqs: _Arrs,
    max_exp_avg_sqs: _Arrs | None,
    steps: Sequence[int] | None,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled: bool,
    dry_run: bool = False,
) -> None: ...
def adagrad_step(
    params: _Arrs,
    grads: _Arrs,
    state_sums: _Arrs,
    steps: Sequence[int] | None,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    dry_run: bool = False,
) -> None: ...
def rmsprop_step(
    params: _Arrs,
    grads: _Arrs,
    square_avgs: _Arrs,
    grad_avgs: _Arrs | None,
    momentum_buffers: _Arrs | None,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
    dry_run: bool = False,
) -> None: ...
def check_sgd(
    lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool
) -> None: ...
def check_adam(lr: float, beta1: float, beta2: float, eps: float, weight_decay: float) -> None: ...
def check_adagrad(lr: float, lr_decay: float, weight_decay: float, eps: float) -> None: ...
def check_rmsprop(
    lr: float, alpha: float, eps: float, weight_decay: float, momentum: float
) -> None: ...

# ---- NAdam, RAdam, Adamax (bindings/optim_adam_family.cpp) ------------------------------------
def nadam_step(
    params: _Arrs,
    grads: _Arrs,
    exp_avgs: _Arrs,
    exp_avg_sqs: _Arrs,
    mu_products: npt.NDArray[np.float64],
    steps: Sequence[int] | None,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    momentum_decay: float,
    decoupled: bool,
    maximize: bool,
    dry_run: bool = False,
) -> None: ...
def radam_step(
    params: _Arrs,
    grads: _Arrs,
    exp_avgs: _Arrs,
    exp_avg_sqs: _Arrs,
    steps: Sequence[int] | None,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled: bool,
    maximize: bool,
    dry_run: bool = False,
) -> None: ...
def adamax_step(
    params: _Arrs,
    grads: _Arrs,
    exp_avgs: _Arrs,
    exp_infs: _Arrs,
    steps: Sequence[int] | None,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
    dry_run: bool = False,
) -> None: ...
def check_nadam(
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, momentum_decay: float
) -> None: ...
def check_radam(lr: float, beta1: float, beta2: float, eps: float, weight_decay: float) -> None: ...
def check_adamax(
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float
) -> None: ...

# ---- Lion and Schedule-Free AdamW (bindings/optim_lionsf.cpp) ---------------------------------
def lion_step(
    params: _Arrs,
    grads: _Arrs,
    exp_avgs: _Arrs,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    maximize: bool,
    dry_run: bool = False,
) -> None: ...
def schedulefree_adamw_step(
    params: _Arrs,
    grads: _Arrs,
    zs: _Arrs,
    exp_avg_sqs: _Arrs,
    steps: Sequence[int],
    lr_maxs: Sequence[float],
    weight_sums: Sequence[float],
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    warmup_steps: int,
    r: float,
    weight_lr_power: float,
    dry_run: bool = False,
) -> list[tuple[float, float]]: ...
def schedulefree_switch(
    params: _Arrs, zs: _Arrs, beta1: float, to_eval: bool, dry_run: bool = False
) -> None: ...
def check_lion(lr: float, beta1: float, beta2: float, weight_decay: float) -> None: ...
def check_schedulefree_adamw(
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    warmup_steps: int,
    r: float,
    weight_lr_power: float,
) -> None: ...

# ---- optim: Adadelta, ASGD, Rprop ----------------------------------------------------------------
def adadelta_step(
    params: _Arrs,
    grads: _Arrs,
    square_avgs: _Arrs,
    acc_deltas: _Arrs,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
    dry_run: bool = False,
) -> None: ...
def asgd_step(
    params: _Arrs,
    grads: _Arrs,
    axs: _Arrs,
    etas: Sequence[float],
    mus: Sequence[float],
    steps: Sequence[int],
    lr: float,
    lambd: float,
    alpha: float,
    t0: float,
    weight_decay: float,
    maximize: bool,
    dry_run: bool = False,
) -> tuple[list[float], list[float]] | None: ...
def rprop_step(
    params: _Arrs,
    grads: _Arrs,
    prevs: _Arrs,
    step_sizes: _Arrs,
    lr: float,
    etaminus: float,
    etaplus: float,
    step_min: float,
    step_max: float,
    maximize: bool,
    dry_run: bool = False,
) -> None: ...
def check_adadelta(lr: float, rho: float, eps: float, weight_decay: float) -> None: ...
def check_asgd(lr: float, lambd: float, alpha: float, t0: float, weight_decay: float) -> None: ...
def check_rprop(
    lr: float, etaminus: float, etaplus: float, step_min: float, step_max: float
) -> None: ...

# ---- nn: GEMM with fused epilogue, dense layer -------------------------------------------------
def gemm(
    a: _Arr,
    b: _Arr,
    out: _Arr,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    beta: float = 0.0,
    bias: _Arr | None = None,
    activation: str | None = "linear",
    negative_slope: float = 0.01,
) -> None: ...
def dense_forward(
    x: _Arr,
    weight: _Arr,
    bias: _Arr | None,
    out: _Arr,
    activation: str | None = None,
    negative_slope: float = 0.01,
) -> None: ...
def dense_backward(
    x: _Arr,
    weight: _Arr,
    y: _Arr,
    dout: _Arr,
    dyp: _Arr,
    dweight: _Arr,
    dbias: _Arr | None,
    dx: _Arr | None,
    *,
    activation: str | None = None,
    negative_slope: float = 0.01,
    activity_l1: float = 0.0,
    activity_l2: float = 0.0,
    weight_l1: float = 0.0,
    weight_l2: float = 0.0,
) -> float: ...
def activation(
    x: _Arr, out: _Arr, activation: str | None, negative_slope: float = 0.01
) -> None: ...
def gemm_blocking(dtype: npt.DTypeLike) -> dict[str, int]: ...

# ---- convolution and pooling over NHWC images (csrc/nn/conv_driver.cpp, pool_driver.cpp) -----
def conv2d_forward(
    x: _Arr,
    weight: _Arr,
    bias: _Arr | None,
    out: _Arr,
    *,
    stride: tuple[int, int],
    padding: tuple[int, int, int, int],
    dilation: tuple[int, int],
    groups: int = 1,
    activation: str | None = None,
    negative_slope: float = 0.01,
) -> None: ...
def conv2d_backward(
    x: _Arr,
    weight: _Arr,
    y: _Arr,
    dout: _Arr,
    dyp: _Arr,
    dweight: _Arr,
    dbias: _Arr | None,
    dx: _Arr | None,
    *,
    stride: tuple[int, int],
    padding: tuple[int, int, int, int],
    dilation: tuple[int, int],
    groups: int = 1,
    activation: str | None = None,
    negative_slope: float = 0.01,
    activity_l1: float = 0.0,
    activity_l2: float = 0.0,
    weight_l1: float = 0.0,
    weight_l2: float = 0.0,
) -> float: ...
def maxpool2d_forward(
    x: _Arr,
    out: _Arr,
    argmax: npt.NDArray[np.int64],
    *,
    pool_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> None: ...
def maxpool2d_backward(
    dout: _Arr,
    argmax: npt.NDArray[np.int64],
    dx: _Arr,
    *,
    pool_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> None: ...
def avgpool2d_forward(
    x: _Arr,
    out: _Arr,
    *,
    pool_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> None: ...
def avgpool2d_backward(
    dout: _Arr,
    dx: _Arr,
    *,
    pool_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> None: ...

# ---- batch normalization (csrc/nn/batchnorm_driver.cpp) ---------------------------------------
def batchnorm_forward(
    x: _Arr,
    weight: _Arr,
    bias: _Arr,
    y: _Arr,
    save_mean: npt.NDArray[np.float64],
    save_invstd: npt.NDArray[np.float64],
    running_mean: _Arr | None,
    running_var: _Arr | None,
    training: bool,
    momentum: float,
    eps: float,
) -> None: ...
def batchnorm_backward(
    dout: _Arr,
    x: _Arr,
    weight: _Arr,
    save_mean: npt.NDArray[np.float64],
    save_invstd: npt.NDArray[np.float64],
    dx: _Arr | None,
    dweight: _Arr,
    dbias: _Arr,
    training: bool,
) -> None: ...

# ---- training-loop kernels (csrc/nn/train_driver.cpp) ------------------------------------------
def take_rows(
    src: npt.NDArray[Any], index: npt.NDArray[np.int64], out: npt.NDArray[Any]
) -> None: ...
def softmax_xent(
    logits: _Arr,
    labels: npt.NDArray[np.int64],
    dlogits: _Arr,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
) -> tuple[float, int]: ...
def all_finite(arrays: Sequence[_Arr]) -> bool: ...
def abs_sq_sums(x: _Arr) -> tuple[float, float]: ...
def scale_clip(g: _Arr, scale: float, bound: float) -> None: ...

# ---- the fused training loop (csrc/nn/train_loop_driver.cpp) ----------------------------------
def train_steps(
    x: _Arr,
    y: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64] | None,
    batch: int,
    xbuf: _Arr | None,
    ybuf: npt.NDArray[np.int64] | None,
    dlogits: _Arr,
    layers: Sequence[tuple[Any, ...]],
    label_smoothing: float,
    guard: bool,
    penalty_after_backward: bool,
    optimizer: str,
    hyper: tuple[float | bool, ...],
    states: Sequence[Sequence[_Arr] | None],
    steps: Sequence[int],
    first: int,
    count: int,
    lrs: npt.NDArray[np.float64] | None = None,
    clip_norm: float = 0.0,
    clip_value: float = 0.0,
    epss: npt.NDArray[np.float64] | None = None,
    momentums: npt.NDArray[np.float64] | None = None,
    scalars: npt.NDArray[np.float64] | None = None,
    comm: tuple[int, int, _Arr, npt.NDArray[np.int64], Callable[[int], bool]] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.bool_], list[float]]: ...

# ---- Adafactor and Muon (csrc/optim/adafactor_driver.cpp, muon_driver.cpp) ---------------------
def adafactor_step(
    params: _Arrs,
    grads: _Arrs,
    row_vars: Sequence[_Arr | None],
    col_vars: Sequence[_Arr | None],
    variances: Sequence[_Arr | None],
    steps: Sequence[int],
    lr: float,
    beta2_decay: float,
    eps1: float | None,
    eps2: float,
    d: float,
    weight_decay: float,
    maximize: bool,
    dry_run: bool = False,
) -> None: ...
def muon_step(
    params: _Arrs,
    grads: _Arrs,
    momentum_buffers: _Arrs,
    lr: float,
    weight_decay: float,
    momentum: float,
    nesterov: bool,
    a: float,
    b: float,
    c: float,
    eps: float,
    ns_steps: int,
    adjust_lr_fn: str | None,
    dry_run: bool = False,
) -> None: ...
def check_adafactor(
    lr: float, beta2_decay: float, eps1: float | None, eps2: float, d: float, weight_decay: float
) -> None: ...
def check_muon(
    lr: float,
    weight_decay: float,
    momentum: float,
    a: float,
    b: float,
    c: float,
    eps: float,
    ns_steps: int,
    adjust_lr_fn: str | None,
) -> None: ...

# ---- embeddings (csrc/nn/embedding_driver.cpp) -------------------------------------------------
def embedding_forward(weight: _Arr, indices: npt.NDArray[np.int64], out: _Arr) -> None: ...
def embedding_backward(
    indices: npt.NDArray[np.int64], dout: _Arr, dweight: _Arr, padding_idx: int | None = None
) -> None: ...

# Recurrent layers (SimpleRNN, LSTM, GRU); see convergent.nn.rnn.
class RnnWorkspace:
    def __init__(self) -> None: ...
    @property
    def has_forward(self) -> bool: ...

def rnn_forward(
    workspace: RnnWorkspace,
    cell: str,
    x: _Arr,
    lengths: npt.NDArray[np.int64] | None,
    params: Sequence[_Arr],
    y: _Arr | None,
    hn: _Arr,
    cn: _Arr | None,
    h0: _Arr | None = None,
    c0: _Arr | None = None,
) -> None: ...
def rnn_backward(
    workspace: RnnWorkspace,
    x: _Arr,
    params: Sequence[_Arr],
    dout: _Arr,
    dx: _Arr | None,
    grads: Sequence[_Arr],
    dh0: _Arr | None = None,
    dc0: _Arr | None = None,
) -> None: ...
