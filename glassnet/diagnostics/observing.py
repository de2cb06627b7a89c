"""A callback that watches every layer call while training (the base of NaNGuard and GradientMonitor)."""

from __future__ import annotations

from ..callbacks import Callback


class LayerObservingCallback(Callback):
    """Registers :meth:`_record` as an observer of every layer call between :meth:`_start_observing`
    and :meth:`_stop_observing` (see :class:`glassnet.layers.base.observe_layers`).

    Subclasses implement ``_clear_records()`` (forget the previous step's records) and
    ``_record(layer, inputs, outputs)``. An observer left registered by an interrupted fit unregisters
    itself on its next call.
    """

    def __init__(self):
        super().__init__()
        self._observer = None
        self._observing = False

    def _clear_records(self) -> None:
        raise NotImplementedError

    def _record(self, layer, inputs, outputs) -> None:
        raise NotImplementedError

    def _start_observing(self) -> None:
        from ..layers.base import observe_layers

        self._clear_records()
        self._observing = True
        self._observer = observe_layers(self._observe)
        self._observer.__enter__()

    def _stop_observing(self) -> None:
        self._observing = False
        if self._observer is not None:
            self._observer.__exit__(None, None, None)
            self._observer = None

    def _observe(self, layer, inputs, outputs) -> None:
        if not self._observing:  # left over from an interrupted fit: unregister
            self._stop_observing()
            return
        self._record(layer, inputs, outputs)
