"""Callbacks: objects whose hooks ``fit``/``evaluate``/``predict`` call at fixed points.

Hooks (all optional): on_train_begin/end, on_epoch_begin/end(epoch, logs),
on_train_batch_begin/end(batch, logs), on_test_begin/end, on_test_batch_begin/end,
on_predict_begin/end, on_predict_batch_begin/end. ``self.model`` is set before training and a
callback may stop training with ``self.model.stop_training = True``.
"""

from __future__ import annotations

from .progbar import Progbar


class Callback:
    """Base class; override the hooks you need."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


_HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class CallbackList:
    """Calls a hook on every callback that overrides it (skipping the no-op base methods)."""

    def __init__(self, callbacks=None, model=None, **params):
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if model is not None:
                callback.set_model(model)
            callback.set_params(params)
        self._active = {hook: [getattr(c, hook) for c in self.callbacks
                               if getattr(type(c), hook, None) is not getattr(Callback, hook)]
                        for hook in _HOOKS}

    def wants(self, hook: str) -> bool:
        """True if some callback overrides ``hook`` (lets the loop skip building logs)."""
        return bool(self._active[hook])

    def _call(self, hook: str, *args):
        for method in self._active[hook]:
            method(*args)

    def __getattr__(self, hook):
        if hook in _HOOKS:
            return lambda *args: self._call(hook, *args)
        raise AttributeError(hook)


class History(Callback):
    """Records the epoch logs: ``history.history['loss']``, ``['val_accuracy']``... and ``history.epoch``."""

    def __init__(self):
        super().__init__()
        self.history: dict = {}
        self.epoch: list = []

    def on_train_begin(self, logs=None):
        self.epoch = []  # Keras keeps `history` across fits of the same model only per fit call
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a progress bar with the running loss and metrics (verbose 1),
    or one line per epoch (verbose 2)."""

    def __init__(self, verbose: int = 1):
        super().__init__()
        self.verbose = verbose
        self.progbar = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            print(f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}", flush=True)
        self.progbar = Progbar(self.params.get("steps"), verbose=self.verbose)
        self._seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        if self.verbose == 1 and self.progbar is not None:
            if batch + 1 < (self.params.get("steps") or 0):
                self.progbar.update(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.progbar is not None:
            self.progbar.update(self.params.get("steps") or self._seen, logs, finalize=True)
