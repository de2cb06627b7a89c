"""``glassnet.optimizers.schedules``: where Keras keeps the learning-rate schedules
(``optimizers.schedules.ExponentialDecay(...)``). The classes live in :mod:`glassnet.schedules`;
this module re-exports the same objects (no copies), so either spelling names one class."""

from ..schedules import *  # noqa: F401,F403
from ..schedules import __all__  # noqa: F401
