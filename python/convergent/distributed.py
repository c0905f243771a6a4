"""Data-parallel training over MPI (mpi4py): ``cg.fit(..., comm=distributed.init())``.

Launch one process per rank, each with the whole training set::

    mpiexec -n 4 python train.py            # as root, Open MPI also needs
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpiexec -n 4 python train.py

What ``fit(..., comm=comm)`` does on every rank:

1. Agreement (one ``allgather`` before anything else): the data's shapes and a fingerprint of
   its values, the seed, batch size, epochs and the other fit arguments, and the model's
   parameter shapes and dtype must be the same on every rank; the batch size must be at least
   the world size (and a partial last batch too). Any difference is the same ValueError on
   every rank, naming the ranks and values; no rank is left waiting in a collective.
2. The parameters, buffers and generator positions of the model, and the optimizer's state, are
   broadcast from rank 0 (so ranks may build their models with different seeds, or resume from
   a checkpoint that only rank 0 read correctly).
3. Every rank draws the same permutation of epoch ``e`` from ``default_rng([seed, e])`` and, in
   each global batch of ``batch_size`` rows (the last one partial), takes the rows
   ``[r * m // p, (r + 1) * m // p)`` of its ``m`` rows. Random layers draw per global row
   (``convergent._rowrng``): rank ``r`` gets the numbers the one-process run draws for its rows.
4. Each rank scales its gradients by ``m_r / m`` (its share of the global batch) and packs them
   with its weighted batch loss and correct count into one contiguous buffer (Horovod's tensor
   fusion); the buffer's sum across ranks is the gradient of the mean loss over the global
   batch. For a ``Sequential`` the buffer is reduced in groups of layers (at least
   ``DataParallel.FUSION_BYTES``), each with ``Iallreduce`` as soon as backward has produced
   its gradients, overlapping the backward pass of the layers before it, except the group of
   the first layers, which nothing is left to overlap with: it gets a blocking ``Allreduce``
   (Open MPI's is twice as fast as its ``Iallreduce``); other models get one ``Allreduce``
   after backward. (Open MPI progresses a non-blocking reduction only inside MPI
   calls: ``Testall`` runs between layers. ``bench/compare_distributed.py`` measures the wait.)
5. Every rank then applies the same non-finite guard, clipping, schedule and optimizer step to
   the same numbers, so the parameters stay identical (the tests compare checksums).
6. Validation rows are split into contiguous shards, one per rank, and the loss and correct
   counts are summed across ranks; every rank logs the same numbers, so callbacks decide the
   same (early stopping, LR on plateau). BatchNorm normalizes with each rank's own batch
   statistics (not synchronized); its running statistics are averaged across ranks at the end
   of every epoch so the buffers stay identical.
7. Checkpoints (``ModelCheckpoint``) and the progress display run on rank 0 only. Resuming:
   load the checkpoint on every rank and call ``fit(..., initial_epoch=ckpt.epoch, comm=comm)``
   with the same arguments; the run continues exactly as the uninterrupted one.

Results: the gradient of the global batch is the sum of the ranks' partial sums instead of one
sum over all rows, so a p-rank run equals the 1-process run up to rounding (rtol 1e-9 in
float64 after a few epochs, tested) and two runs with the same world size give the same bits.
Where ``fit`` runs its fused C++ loop (a ``Sequential`` of ``Dense`` layers with
``SoftmaxCrossEntropy`` and one of its optimizers), it runs it under ``comm`` too: the C++ loop
packs the gradients and calls back into this module for the same reductions at the same points
(:meth:`DataParallel.fused_comm`), so both loops give the same bits (tested); other models run
the Python step loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _rowrng
from ._shm_reduce import ShmReducer
from .nn.sequential import _accepts_need_input_grad

__all__ = ["DataParallel", "checksums", "init"]


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "data-parallel training needs mpi4py and an MPI library: "
            "pip install 'convergent[distributed]'"
        ) from e
    return MPI


def init() -> Any:
    """The world communicator (``mpi4py.MPI.COMM_WORLD``; MPI is initialized on import of
    mpi4py). ``comm.rank`` and ``comm.size`` give this process's rank and the world size;
    pass it to :func:`convergent.fit` as ``comm``. ImportError without mpi4py."""
    return _mpi().COMM_WORLD


def _fingerprint(a: Any) -> tuple[Any, ...]:
    """Shape, dtype and a float64 sum of up to 64 evenly spaced rows (cheap on large data)."""
    if a is None:
        return (None,)
    try:
        arr = np.asarray(a)
    except Exception as e:  # noqa: BLE001 - reported as a mismatch, not raised on one rank only
        return ("unreadable", type(e).__name__)
    if arr.ndim == 0 or arr.dtype.kind not in "biuf":
        return (arr.shape, str(arr.dtype))
    step = max(1, len(arr) // 64)
    # repr: a NaN in the data must compare equal to itself across ranks
    return (arr.shape, str(arr.dtype), repr(float(np.sum(arr[::step], dtype=np.float64))))


def _signature(model: Any, X: Any, y: Any, validation_data: Any, args: dict[str, Any]) -> dict:
    try:
        shapes = [tuple(p.shape) for p in model.parameters()]
        dtypes = sorted({str(p.dtype) for p in model.parameters()})
    except Exception as e:  # noqa: BLE001
        shapes, dtypes = [f"model.parameters() failed: {type(e).__name__}"], []
    val = None
    if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
        val = (_fingerprint(validation_data[0]), _fingerprint(validation_data[1]))
    elif validation_data is not None:
        val = type(validation_data).__name__
    return {
        "X": _fingerprint(X),
        "y": _fingerprint(y),
        "validation_data": val,
        "parameter count": sum(int(np.prod(s)) for s in shapes if isinstance(s, tuple)),
        "parameter shapes": shapes,
        "parameter dtypes": dtypes,
        **{k: repr(v) for k, v in args.items()},
    }


class DataParallel:
    """The distributed side of one fit on one rank (made by :func:`convergent.fit`)."""

    #: Gradient bytes per overlapped reduction at least (layers are grouped up to this size).
    FUSION_BYTES = 1 << 16
    #: Sum through shared memory when every rank is on one node (``convergent._shm_reduce``);
    #: False: always MPI's reductions.
    SHARED_MEMORY = True

    def __init__(self, comm: Any, model: Any, X: Any, y: Any, validation_data: Any,
                 args: dict[str, Any]) -> None:  # fmt: skip
        try:
            import mpi4py  # noqa: F401  (the package only: importing mpi4py.MPI starts MPI)
        except ImportError:
            _mpi()  # the ImportError that says what to install
        # (the module check first: importing mpi4py.MPI for a wrong argument would start MPI)
        MPI = _mpi() if type(comm).__module__.startswith("mpi4py") else None
        if MPI is None or not isinstance(comm, MPI.Comm) or comm == MPI.COMM_NULL:
            raise TypeError(
                "comm must be an mpi4py communicator such as convergent.distributed.init(), "
                f"got {type(comm).__name__}"
            )
        if comm.Is_inter():
            raise TypeError("comm must be an intra-communicator")
        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        sigs = comm.allgather(_signature(model, X, y, validation_data, args))
        diffs = []
        for key in sigs[0]:
            values = [s[key] for s in sigs]
            if any(v != values[0] for v in values):
                shown = "; ".join(f"rank {r}: {v}" for r, v in enumerate(values))
                diffs.append(f"{key}: not the same on every rank ({shown})")
        if diffs:
            raise ValueError("fit(comm=...): every rank must get the same data, arguments and "
                             "model; " + " | ".join(diffs))  # fmt: skip
        self.window = _rowrng.RowWindow()
        self._swapped: list[Any] = []
        self.buf: np.ndarray | None = None
        self.reduce_seconds = 0.0  # time in the gradient Allreduce (bench/compare_distributed.py)
        self.steps = 0
        self.failure: BaseException | None = None  # raised by a fused_comm hook
        self.shm: ShmReducer | None = None  # the node's shared memory, when all ranks are on it

    # ---- before training -------------------------------------------------------------------
    def start(self, model: Any, optimizer: Any, n: int, batch_size: int) -> None:
        """Checks the batch split (the same outcome on every rank: the inputs agree), broadcasts
        the model and optimizer state from rank 0 and installs the per-row generators."""
        p = self.size
        if batch_size < p:
            raise ValueError(f"batch_size={batch_size} is smaller than the {p} ranks of comm: "
                             "every rank needs at least one row of each batch")  # fmt: skip
        last = n % batch_size
        if 0 < last < p:
            raise ValueError(
                f"the last batch has {last} rows ({n} rows, batch_size={batch_size}), fewer "
                f"than the {p} ranks of comm: every rank needs at least one row of each batch"
            )
        grads = model.gradients()
        dtypes = {g.dtype for g in grads}
        if len(dtypes) > 1:
            raise TypeError(f"fit(comm=...) needs gradients of one dtype, got {sorted(dtypes)}")
        dtype = dtypes.pop() if dtypes else np.dtype(np.float64)
        comm = self.comm
        for a in list(model.parameters()) + list(_buffers(model)):
            comm.Bcast(_contiguous(a, "parameter or buffer"), root=0)
        if hasattr(model, "get_rng_state"):
            model.set_rng_state(comm.bcast(model.get_rng_state(), root=0))
        if hasattr(optimizer, "state_dict"):
            sd = comm.bcast(optimizer.state_dict() if self.rank == 0 else None, root=0)
            if self.rank != 0:
                optimizer.load_state_dict(sd)
        self.offsets = np.cumsum([0] + [g.size for g in grads])
        size = int(self.offsets[-1]) + 2
        self.buf = None
        if self.SHARED_MEMORY and ShmReducer.usable(self.MPI, comm):
            try:  # (an OSError on every rank alike)
                self.shm = ShmReducer(self.MPI, comm, size, dtype)
                self.buf = self.shm.buf
            except OSError:
                self.shm = None
        if self.buf is None:
            self.buf = np.empty(size, dtype)
        self.groups = _fusion_groups(model, self.offsets, self.buf.itemsize, self.FUSION_BYTES)
        self.layers = len(getattr(model, "layers", ()))
        self._swapped = _rowrng.install(model, self.window)

    def close(self, history: Any = None) -> None:
        """Gives the random layers their own generators back; records the world size, the
        steps, the seconds spent in the gradient sums and how they were made ("shared memory"
        or "mpi") in ``history.params["comm"]``; unmaps the shared memory of the sums."""
        if history is not None:
            history.params["comm"] = {
                "size": self.size,
                "steps": self.steps,
                "allreduce_seconds": self.reduce_seconds,
                "sums": "shared memory" if self.shm is not None else "mpi",
            }
        _rowrng.uninstall(self._swapped)
        self._swapped = []
        shm, self.shm, self.buf = self.shm, None, None
        if shm is not None:
            shm.free()
        self.window.set(0, 0)

    # ---- each step ---------------------------------------------------------------------------
    def shard(self, m: int) -> tuple[int, int]:
        """This rank's rows ``[lo, hi)`` of a global batch of ``m`` rows; the random layers'
        window is set to them."""
        lo, hi = self.rank * m // self.size, (self.rank + 1) * m // self.size
        self.window.set(m, lo)
        self._share = (hi - lo) / m
        return lo, hi

    def backward(self, model: Any, dpred: Any, need_input_grad: bool, grads: list[np.ndarray],
                 batch_loss: float, correct: float) -> tuple[float, float]:  # fmt: skip
        """The backward pass, and the sum across ranks of the gradients weighted by this rank's
        share of the batch (set by :meth:`shard`), its loss and correct count, in the one
        buffer; returns the global batch loss and correct count.

        For a ``Sequential``, the reduction of a group of layers' gradients starts
        (``Iallreduce`` on its part of the buffer) as soon as backward has produced them, and
        the remaining layers' backward runs meanwhile (``Testall`` between layers lets MPI make
        progress); groups are cut when they reach ``FUSION_BYTES``, so small layers share one
        reduction. The group of the first layers is reduced last, with a blocking
        ``Allreduce``. Other models: backward, then one ``Allreduce`` of the whole buffer. With
        the node's shared memory: backward, then its sum of the whole buffer."""
        MPI, comm, buf, off, w = self.MPI, self.comm, self.buf, self.offsets, self._share
        buf[-2] = batch_loss * w
        buf[-1] = correct
        reqs: list[Any] = []
        last: list[slice] = []  # the group nothing is left to overlap with: reduced blocking

        def launch(g0: int, g1: int, a: int, b: int) -> None:
            for g, lo, hi in zip(grads[g0:g1], off[g0:g1], off[g0 + 1 : g1 + 1]):
                np.multiply(g, w, out=buf[lo:hi].reshape(g.shape))
            if g0 == 0:
                last.append(slice(a, b))
            else:
                reqs.append(comm.Iallreduce(MPI.IN_PLACE, buf[a:b], op=MPI.SUM))

        if self.groups is None or self.shm is not None:  # backward, then one sum
            if need_input_grad:
                model.backward(dpred)
            else:
                model.backward(dpred, need_input_grad=False)
            launch(0, len(grads), 0, len(buf))
        else:
            layers, dout = model.layers, dpred
            for k in range(len(layers) - 1, -1, -1):
                if k or need_input_grad or not _accepts_need_input_grad(layers[0]):
                    dout = layers[k].backward(dout)
                else:
                    layers[0].backward(dout, need_input_grad=False)
                group = self.groups.get(k)
                if group is not None:
                    launch(*group)
                elif reqs:
                    MPI.Request.Testall(reqs)
        self._finish(reqs, last)
        for g, a, b in zip(grads, off[:-1], off[1:]):
            np.copyto(g, buf[a:b].reshape(g.shape))
        return float(buf[-2]), float(buf[-1])

    def _finish(self, reqs: list[Any], last: list[slice]) -> None:
        """Waits for the started reductions, then sums the last group's part of the buffer with
        a blocking ``Allreduce`` (Open MPI's is twice as fast as ``Iallreduce`` + ``Wait`` on
        the benchmark MLP's 800 KB: 82 against 165 us here), or, with the node's shared memory,
        the whole buffer through it; times both."""
        MPI = self.MPI
        t0 = MPI.Wtime()
        MPI.Request.Waitall(reqs)
        if self.shm is not None:
            self.shm.allreduce()
        else:
            for part in last:
                self.comm.Allreduce(MPI.IN_PLACE, self.buf[part], op=MPI.SUM)
        self.reduce_seconds += MPI.Wtime() - t0
        self.steps += 1
        reqs.clear()
        last.clear()

    def fused_comm(self) -> tuple[int, int, np.ndarray, np.ndarray, Any]:
        """The comm argument of ``_core.train_steps`` (the fused loop's steps; LoopComm in
        csrc/nn/train_loop.h): (rank, size, buffer, launch, hook). The C++ loop packs each
        layer's gradients times the rank's share into the buffer, as :meth:`backward` does, and
        calls ``hook(k)`` to start group k's ``Iallreduce`` after the layer where
        :meth:`backward` starts it, ``hook(-1)`` (``Testall``) after the other layers and
        ``hook(-2)`` (``Waitall``, then the first layer's group with a blocking ``Allreduce``)
        before the guard and the optimizer step: the same reductions of the same numbers. With
        the node's shared memory, only ``hook(-2)``: its sum of the whole buffer. A hook never
        raises into the C++ loop: it keeps the exception
        (raised by :meth:`raise_failure` once the call has returned) and returns False, which
        stops the run before that step is applied."""
        MPI, comm, buf = self.MPI, self.comm, self.buf
        starts = sorted(self.groups, reverse=True)  # layers whose backward pass launches a group
        launch = np.full(self.layers, -1, np.int64)
        views = []
        if self.shm is None:
            for j, k in enumerate(starts):
                launch[k] = j
                views.append(buf[self.groups[k][2] : self.groups[k][3]])
        reqs: list[Any] = []
        last: list[slice] = []

        def hook(event: int) -> bool:
            try:
                if event >= 0:
                    g0, _, a, b = self.groups[starts[event]]
                    if g0 == 0:  # as in backward: reduced blocking in _finish
                        last.append(slice(a, b))
                    else:
                        reqs.append(comm.Iallreduce(MPI.IN_PLACE, views[event], op=MPI.SUM))
                elif event == -1:
                    MPI.Request.Testall(reqs)
                else:
                    self._finish(reqs, last)
                return True
            except BaseException as e:  # noqa: BLE001 - raised once the C++ call has returned
                self.failure = e
                return False

        return self.rank, self.size, buf, launch, hook

    def raise_failure(self) -> None:
        """Raises what a :meth:`fused_comm` hook caught (a failed reduction, Ctrl-C)."""
        failure, self.failure = self.failure, None
        if failure is not None:
            raise failure

    # ---- each epoch --------------------------------------------------------------------------
    def evaluator(self, evaluate: Any) -> Any:
        """``evaluate(model, loss, Xv, yv, batch_size, classify, lengths)`` (fit's validation
        pass) run on this rank's contiguous shard of the rows (and of the per-sample lengths of
        padded sequences), the sums reduced across ranks."""
        return lambda *args: self._evaluate(evaluate, *args)

    def _evaluate(self, evaluate: Any, model: Any, loss: Any, Xv: np.ndarray, yv: np.ndarray,
                  batch_size: int, classify: bool,
                  lengths: Any = None) -> dict[str, float]:  # fmt: skip
        nv, r, p = len(Xv), self.rank, self.size
        lo, hi = r * nv // p, (r + 1) * nv // p
        sums = np.zeros(2)
        if hi > lo:
            lv = None if lengths is None else lengths[lo:hi]
            out = evaluate(model, loss, Xv[lo:hi], yv[lo:hi], batch_size, classify, lv)
            sums[:] = out["val_loss"] * (hi - lo), out.get("val_accuracy", 0.0) * (hi - lo)
        self.comm.Allreduce(self.MPI.IN_PLACE, sums, op=self.MPI.SUM)
        logs = {"val_loss": float(sums[0] / nv)}
        if classify:
            logs["val_accuracy"] = float(sums[1] / nv)
        return logs

    def sync_buffers(self, model: Any) -> None:
        """Averages floating-point buffers (BatchNorm running statistics) across ranks."""
        for b in _buffers(model):
            if b.dtype.kind == "f":
                self.comm.Allreduce(self.MPI.IN_PLACE, _contiguous(b, "buffer"), op=self.MPI.SUM)
                b *= b.dtype.type(1.0 / self.size)

    def callbacks(self, callbacks: list[Any]) -> list[Any]:
        """The callbacks this rank runs: checkpoints on rank 0 only."""
        from .callbacks import ModelCheckpoint

        if self.rank == 0:
            return callbacks
        return [cb for cb in callbacks if not isinstance(cb, ModelCheckpoint)]


def checksums(comm: Any, model: Any) -> list[float]:
    """Every rank's float64 sum of its model's parameters, gathered on every rank (a collective):
    the same number on all ranks when their parameters agree."""
    return comm.allgather(float(sum(np.sum(p, dtype=np.float64) for p in model.parameters())))


def _fusion_groups(model: Any, offsets: Any, itemsize: int, fusion_bytes: int) -> Any:
    """For a ``Sequential``: {layer index: (first gradient, end gradient, buffer start, buffer
    end)}, the reductions to start once backward has passed that layer (walking the layers
    from the last, a group closes when it holds ``fusion_bytes`` or at layer 0; the first group
    also carries the loss and correct count at the end of the buffer). None for other models."""
    from .nn.sequential import Sequential

    if type(model) is not Sequential:
        return None
    counts = [len(layer.gradients()) for layer in model.layers]
    first = np.cumsum([0] + counts)  # gradient index of each layer's first gradient
    groups, end_g, end_b, size = {}, int(first[-1]), int(offsets[-1]) + 2, 0
    for k in range(len(model.layers) - 1, -1, -1):
        size += int(offsets[first[k + 1]] - offsets[first[k]]) * itemsize
        if size >= fusion_bytes or k == 0:
            start_b = int(offsets[first[k]])
            if end_b > start_b:
                groups[k] = (int(first[k]), end_g, start_b, end_b)
            end_g, end_b, size = int(first[k]), start_b, 0
    return groups or None


def _buffers(model: Any) -> list[np.ndarray]:
    b = getattr(model, "buffers", None)
    return list(b().values()) if callable(b) else []


def _contiguous(a: np.ndarray, what: str) -> np.ndarray:
    if not (isinstance(a, np.ndarray) and a.flags.c_contiguous and a.flags.writeable):
        raise TypeError(f"fit(comm=...) needs C-contiguous writeable arrays; a {what} is not")
    return a
