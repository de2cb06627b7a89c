"""Checkpoints and exact resume: a run stopped at any point — by an exception, SIGKILL or Ctrl-C —
and resumed ends with exactly the weights (and History) of an uninterrupted run with the same seed."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import glassnet as gn
from glassnet import checkpoint, layers
from glassnet.errors import FileFormatError, InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((120, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype("float32")
    return x, y


def build(seed=0):
    """Shuffling, a global-RNG dropout and a layer with its own seeded generator, Adam, metrics."""
    gn.set_seed(seed)
    model = gn.Sequential([layers.Input(shape=(6,)), layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                           layers.Dense(8, activation="tanh"), layers.Dropout(0.2, seed=11),
                           layers.Dense(1, activation="sigmoid")])
    model.compile(gn.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    return model


FIT = dict(epochs=4, batch_size=16, validation_split=0.2, verbose=0)


class CrashAt(gn.callbacks.Callback):
    """Simulates a crash after a given optimizer step."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if self.model.optimizer.iterations == self.step:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize("gather_batches", [False, True])
def test_resume_after_a_crash_mid_epoch_is_exact(tmp_path, gather_batches, monkeypatch):
    if gather_batches:  # fit's path for a large data set: shuffled batches gathered one at a time
        monkeypatch.setattr("glassnet.models.model.WHOLE_EPOCH_SHUFFLE_MAX_BYTES", 0)
    x, y = data()
    reference = build()
    expected_history = reference.fit(x, y, **FIT).history
    crashed = build()
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(x, y, checkpoint_dir=tmp_path, checkpoint_every=4, callbacks=[CrashAt(17)], **FIT)
    saved = checkpoint.load_checkpoint(build(seed=99), tmp_path)
    assert (saved.epoch, saved.step) == (2, 4)  # 6 steps per epoch: step 16 is epoch 2's 4th step
    resumed = build(seed=99)  # a different seed: everything must come from the checkpoint
    history = resumed.fit(x, y, checkpoint_dir=tmp_path, checkpoint_every=4, resume=True, **FIT).history
    for a, b in zip(reference.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.keys() == expected_history.keys()
    for key in expected_history:
        np.testing.assert_allclose(history[key], expected_history[key], rtol=1e-12, err_msg=key)


def test_resume_at_an_epoch_boundary_and_after_completion(tmp_path):
    x, y = data()
    reference = build()
    reference.fit(x, y, **FIT)
    first = build()
    first.fit(x, y, checkpoint_dir=tmp_path, **dict(FIT, epochs=2))  # stops cleanly after epoch 2
    second = build(seed=5)
    second.fit(x, y, checkpoint_dir=tmp_path, resume=True, **FIT)
    for a, b in zip(reference.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    finished = build(seed=6)  # resuming a finished run trains nothing more
    history = finished.fit(x, y, checkpoint_dir=tmp_path, resume=True, **FIT).history
    assert len(history["loss"]) == 4
    for a, b in zip(reference.get_weights(), finished.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path):
    x, y = data()
    reference = build()
    reference.fit(x, y, **FIT)
    fresh = build()
    fresh.fit(x, y, checkpoint_dir=tmp_path / "empty", resume=True, **FIT)
    for a, b in zip(reference.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert os.path.exists(tmp_path / "empty" / checkpoint.FILENAME)


def test_bad_checkpoint_arguments_and_architectures(tmp_path):
    x, y = data()
    with pytest.raises(InputError, match="checkpoint_dir"):
        build().fit(x, y, resume=True, verbose=0)
    with pytest.raises(InputError, match="checkpoint_every"):
        build().fit(x, y, checkpoint_dir=tmp_path, checkpoint_every=0, verbose=0)
    build().fit(x, y, checkpoint_dir=tmp_path, epochs=1, verbose=0)
    other = gn.Sequential([layers.Input(shape=(6,)), layers.Dense(3), layers.Dense(1, activation="sigmoid")])
    other.compile("adam", "binary_crossentropy")
    with pytest.raises(FileFormatError, match="different architecture"):
        other.fit(x, y, checkpoint_dir=tmp_path, resume=True, verbose=0)


# ---------------------------------------------------------------- real processes
SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, {root!r})
    import glassnet as gn
    from glassnet import layers

    class Slow(gn.callbacks.Callback):  # give the parent time to interrupt mid-epoch
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(0.01)

    rng = np.random.default_rng(3)
    x = rng.standard_normal((600, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype("float32")
    gn.set_seed(0)
    model = gn.Sequential([layers.Input(shape=(6,)), layers.Dense(32, activation="relu"), layers.Dropout(0.3),
                           layers.Dense(1, activation="sigmoid")])
    model.compile(gn.optimizers.Adam(0.01), "binary_crossentropy")
    mode, folder, out = sys.argv[1], sys.argv[2], sys.argv[3]
    callbacks, kwargs = [Slow()], {{}}
    if mode == "backup":  # Keras style: the callback both backs up and resumes
        callbacks.append(gn.callbacks.BackupAndRestore(folder, save_freq=5))
    elif mode != "plain":
        kwargs = dict(checkpoint_dir=folder, checkpoint_every=5, resume=(mode == "resume"))
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=callbacks, **kwargs)
    np.savez(out, *model.get_weights())
    print("epochs", len(history.history.get("loss", [])), flush=True)
""")


def _script(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(SCRIPT.format(root=ROOT))
    return str(path)


def _weights(path):
    with np.load(path) as archive:
        return [archive[f"arr_{i}"] for i in range(len(archive.files))]


def _run(script, *args, timeout=120):
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=timeout)


def _start_and_wait_for_checkpoint(script, folder, out, mode="checkpointed"):
    process = subprocess.Popen([sys.executable, script, mode, folder, out], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    target = os.path.join(folder, checkpoint.FILENAME)
    while not os.path.exists(target):
        assert process.poll() is None, process.stderr.read()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    time.sleep(0.35)  # well into training: several more checkpoints, mid-epoch
    assert process.poll() is None, "training finished before it could be interrupted"
    return process


def test_sigkill_mid_epoch_then_resume_gives_identical_weights(tmp_path):
    script = _script(tmp_path)
    plain = _run(script, "plain", "-", str(tmp_path / "plain.npz"))
    assert plain.returncode == 0, plain.stderr
    folder = str(tmp_path / "checkpoints")
    process = _start_and_wait_for_checkpoint(script, folder, str(tmp_path / "killed.npz"))
    process.kill()  # SIGKILL: no cleanup, possibly in the middle of writing a checkpoint
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    saved = checkpoint.load_checkpoint(_model_for_inspection(), folder)
    assert saved is not None and (saved.epoch, saved.step) != (5, 0)  # it really stopped early
    resumed = _run(script, "resume", folder, str(tmp_path / "resumed.npz"))
    assert resumed.returncode == 0, resumed.stderr
    for a, b in zip(_weights(tmp_path / "plain.npz"), _weights(tmp_path / "resumed.npz")):
        np.testing.assert_array_equal(a, b)


def test_backup_and_restore_callback_survives_sigkill_and_cleans_up(tmp_path):
    script = _script(tmp_path)
    plain = _run(script, "plain", "-", str(tmp_path / "plain.npz"))
    assert plain.returncode == 0, plain.stderr
    folder = str(tmp_path / "backup")
    process = _start_and_wait_for_checkpoint(script, folder, str(tmp_path / "killed.npz"), mode="backup")
    process.kill()
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert os.path.exists(os.path.join(folder, checkpoint.FILENAME))  # the backup outlives the crash
    rerun = _run(script, "backup", folder, str(tmp_path / "resumed.npz"))  # the same command, run again
    assert rerun.returncode == 0, rerun.stderr
    assert "epochs 5" in rerun.stdout
    for a, b in zip(_weights(tmp_path / "plain.npz"), _weights(tmp_path / "resumed.npz")):
        np.testing.assert_array_equal(a, b)
    assert not os.path.exists(os.path.join(folder, checkpoint.FILENAME))  # finished: the backup is deleted


def test_backup_and_restore_in_process(tmp_path):
    x, y = data()
    reference = build()
    reference.fit(x, y, **FIT)
    crashed = build()
    backup = gn.callbacks.BackupAndRestore(tmp_path, save_freq=4, delete_checkpoint=False)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(x, y, callbacks=[backup, CrashAt(17)], **FIT)
    resumed = build(seed=99)
    resumed.fit(x, y, callbacks=[backup], **FIT)
    for a, b in zip(reference.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert checkpoint.load_checkpoint(build(), tmp_path).epoch == FIT["epochs"]  # kept: delete_checkpoint=False
    with pytest.raises(InputError, match="BackupAndRestore"):
        build().fit(x, y, checkpoint_dir=tmp_path, callbacks=[backup], **FIT)
    with pytest.raises(ValueError, match="save_freq"):
        gn.callbacks.BackupAndRestore(tmp_path, save_freq=0)
    with pytest.raises(ValueError, match="backup_dir"):
        gn.callbacks.BackupAndRestore("")


def test_ctrl_c_finishes_the_step_writes_a_checkpoint_and_returns(tmp_path):
    script = _script(tmp_path)
    plain = _run(script, "plain", "-", str(tmp_path / "plain.npz"))
    folder = str(tmp_path / "checkpoints")
    process = _start_and_wait_for_checkpoint(script, folder, str(tmp_path / "interrupted.npz"))
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr  # fit returned normally
    assert "Interrupted" in stderr
    finished_epochs = int(stdout.split("epochs")[1])
    assert finished_epochs < 5
    assert os.path.exists(tmp_path / "interrupted.npz")
    resumed = _run(script, "resume", folder, str(tmp_path / "resumed.npz"))
    assert resumed.returncode == 0, resumed.stderr
    assert "epochs 5" in resumed.stdout
    for a, b in zip(_weights(tmp_path / "plain.npz"), _weights(tmp_path / "resumed.npz")):
        np.testing.assert_array_equal(a, b)


def _model_for_inspection():
    model = gn.Sequential([layers.Input(shape=(6,)), layers.Dense(32, activation="relu"), layers.Dropout(0.3),
                           layers.Dense(1, activation="sigmoid")])
    model.compile(gn.optimizers.Adam(0.01), "binary_crossentropy")
    return model
