"""Learning-rate schedules: callables ``schedule(step) -> lr`` over optimizer steps.

``step`` counts optimizer steps from 0 (``fit`` calls ``schedule(global_step)`` before each step
and sets every param group's ``"lr"``). Each schedule is a closed form of ``step`` without state,
so resuming at any step gives the same values. Formulas follow Keras
(``keras.optimizers.schedules``) where the name matches, torch (``torch.optim.lr_scheduler``)
for OneCycle, Cyclic, LinearSchedule and SequentialSchedule.

A schedule whose ``drives_momentum`` is true (OneCycle and Cyclic with ``cycle_momentum``, and
the wrappers around one) also gives ``momentum(step)``; ``fit`` then sets each group's
``"momentum"`` (SGD, RMSprop) or ``"betas"[0]`` (Adam family) before each step, records
``history["momentum"]``, and refuses an optimizer with neither (ValueError, as torch).
"""

from ._base import (
    Constant,
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    LinearWarmup,
    PiecewiseConstant,
    Schedule,
    StepDecay,
)
from ._cycles import Cyclic, OneCycle
from ._decays import CosineDecayRestarts, LinearSchedule, PolynomialDecay, SequentialSchedule

__all__ = [
    "Constant",
    "CosineDecay",
    "CosineDecayRestarts",
    "Cyclic",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LinearSchedule",
    "LinearWarmup",
    "OneCycle",
    "PiecewiseConstant",
    "PolynomialDecay",
    "Schedule",
    "SequentialSchedule",
    "StepDecay",
]
