"""Hyperparameter search (glassnet.tune): grid, seeded random, Optuna; failures recorded; worker
processes and Ray give the same trials as in-process."""

import json
import math
import sys

import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import InputError, UnknownNameError
from glassnet.tune import Choice, IntRange, LogUniform, TuneResult, Uniform, objective_direction, tune


def _data(n=96, seed=0):
    """Two Gaussian blobs in 2-D, labels 0/1: separable, so a decent learning rate clearly wins."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 2)).astype(np.float32) * 0.7 + np.where(y[:, None] == 1, 1.5, -1.5).astype(np.float32)
    return x[: n * 3 // 4], y[: n * 3 // 4].astype(np.int64), x[n * 3 // 4:], y[n * 3 // 4:].astype(np.int64)


DATA = _data()


def build(params):
    """Module level, so worker processes can unpickle it."""
    model = gn.Sequential([gn.layers.Dense(params.get("units", 4), activation="relu", input_shape=(2,)),
                           gn.layers.Dense(2)])
    model.compile(optimizer=gn.optimizers.SGD(params["learning_rate"]),
                  loss=gn.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def build_sometimes_failing(params):
    if params["units"] == 3:
        raise RuntimeError("no model with 3 units")
    return build(params)


def _objectives(result):
    return [t["objective"] for t in result.trials]


# ------------------------------------------------------------------------------------ grid
def test_grid_covers_every_combination_and_picks_the_best():
    space = {"learning_rate": [1e-4, 0.3], "units": [2, 4], "batch_size": [16]}
    result = tune(build, space, DATA, strategy="grid", epochs=3, verbose=0)
    combos = {(t["params"]["learning_rate"], t["params"]["units"], t["params"]["batch_size"]) for t in result.trials}
    assert combos == {(lr, u, 16) for lr in (1e-4, 0.3) for u in (2, 4)}
    assert len(result.trials) == 4 and all(t["status"] == "ok" for t in result.trials)
    values = _objectives(result)
    assert result.best_value == min(values)
    assert result.best_params == result.trials[int(np.argmin(values))]["params"]
    assert result.best_params["learning_rate"] == 0.3  # a learning rate of 1e-4 barely moves in 3 epochs
    assert result.direction == "min" and result.objective == "val_loss"
    # every trial logs all metrics; the objective is the last epoch's val_loss
    trial = result.trials[0]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(trial["metrics"])
    assert trial["objective"] == trial["history"]["val_loss"][-1] and len(trial["history"]["loss"]) == 3
    assert trial["duration"] > 0


def test_grid_trial_reproduces_a_plain_seeded_fit():
    """A trial is exactly set_seed(seed + index) → build → fit(validation_data, epochs, batch_size)."""
    result = tune(build, {"learning_rate": [0.1, 0.05], "epochs": [2], "batch_size": [8]}, DATA, strategy="grid",
                  seed=5, epochs=7, verbose=0)
    x_train, y_train, x_val, y_val = DATA
    gn.set_seed(5 + 1)
    gn.clear_session()
    model = build({"learning_rate": 0.05})
    history = model.fit(x_train, y_train, epochs=2, batch_size=8, validation_data=(x_val, y_val), verbose=0)
    assert len(result.trials[1]["history"]["loss"]) == 2  # epochs from params wins over tune(epochs=7)
    np.testing.assert_allclose(result.trials[1]["objective"], history.history["val_loss"][-1], rtol=1e-6)


def test_grid_refuses_continuous_distributions():
    with pytest.raises(InputError, match="grid search needs finite"):
        tune(build, {"learning_rate": LogUniform(1e-3, 1e-1)}, DATA, strategy="grid", verbose=0)
    # IntRange is finite: enumerated with its step, both ends included
    assert IntRange(2, 8, step=3).values() == [2, 5, 8]


# ------------------------------------------------------------------------------------ random
def test_random_search_is_seeded():
    space = {"learning_rate": LogUniform(1e-3, 0.5), "units": IntRange(2, 6), "momentum": Uniform(0.0, 0.9),
             "batch_size": Choice([8, 32])}
    a = tune(build, space, DATA, strategy="random", trials=4, epochs=2, seed=3, verbose=0)
    b = tune(build, space, DATA, strategy="random", trials=4, epochs=2, seed=3, verbose=0)
    c = tune(build, space, DATA, strategy="random", trials=4, epochs=2, seed=4, verbose=0)
    assert [t["params"] for t in a.trials] == [t["params"] for t in b.trials]
    assert _objectives(a) == _objectives(b)
    assert [t["params"] for t in a.trials] != [t["params"] for t in c.trials]
    for t in a.trials:
        p = t["params"]
        assert 1e-3 <= p["learning_rate"] <= 0.5 and p["units"] in range(2, 7) and 0.0 <= p["momentum"] <= 0.9
        assert p["batch_size"] in (8, 32) and isinstance(p["units"], int)


def test_random_search_over_a_finite_space_draws_distinct_combinations():
    space = {"learning_rate": [0.01, 0.1], "units": [2, 3, 4]}
    result = tune(build, space, DATA, strategy="random", trials=50, epochs=1, verbose=0)
    combos = [(t["params"]["learning_rate"], t["params"]["units"]) for t in result.trials]
    assert len(combos) == 6 and len(set(combos)) == 6  # capped at the 6 combinations, no repeats


def test_the_global_random_state_is_restored_after_an_in_process_search():
    gn.set_seed(123)
    expected = gn.backend.rng().random()
    gn.set_seed(123)
    tune(build, {"learning_rate": [0.1]}, DATA, strategy="grid", epochs=1, verbose=0)
    assert gn.backend.rng().random() == expected


# ------------------------------------------------------------------------------------ direction
def test_direction_is_detected_from_the_objective_name():
    assert objective_direction("val_loss") == "min"
    assert objective_direction("mean_absolute_error") == "min"
    assert objective_direction("val_accuracy") == "max"
    assert objective_direction("val_auc") == "max"
    assert objective_direction("val_sparse_categorical_accuracy") == "max"
    with pytest.raises(InputError, match="direction="):
        objective_direction("val_wobble")
    space = {"learning_rate": [1e-4, 0.3]}
    result = tune(build, space, DATA, strategy="grid", objective="val_accuracy", epochs=3, verbose=0)
    assert result.direction == "max"
    assert result.best_value == max(_objectives(result))
    # an explicit direction wins
    worst = tune(build, space, DATA, strategy="grid", objective="val_accuracy", direction="minimize", epochs=3,
                 verbose=0)
    assert worst.direction == "min" and worst.best_value == min(_objectives(worst))
    with pytest.raises(UnknownNameError):
        tune(build, space, DATA, direction="up", verbose=0)


# ------------------------------------------------------------------------------------ failures
def test_failing_trials_are_recorded_not_fatal():
    space = {"units": [2, 3, 4], "learning_rate": [0.1]}
    result = tune(build_sometimes_failing, space, DATA, strategy="grid", epochs=1, verbose=0)
    failed = [t for t in result.trials if t["status"] == "failed"]
    assert len(result.trials) == 3 and len(failed) == 1
    assert failed[0]["params"]["units"] == 3 and "no model with 3 units" in failed[0]["error"]
    assert failed[0]["objective"] is None and "RuntimeError" in failed[0]["traceback"]
    assert result.best_params["units"] in (2, 4)
    table = result.table()
    assert table.splitlines()[-1].split()[0] == "-" and "failed" in table.splitlines()[-1]
    # an objective that is not logged fails every trial, with a message that lists the logs
    with pytest.warns(UserWarning, match="Every trial failed"):
        none = tune(build, {"learning_rate": [0.1]}, DATA, strategy="grid", objective="val_auc", epochs=1, verbose=0)
    assert none.best_params is None and "val_accuracy" in none.trials[0]["error"]


def test_bad_arguments_are_refused():
    with pytest.raises(UnknownNameError):
        tune(build, {"learning_rate": [0.1]}, DATA, strategy="bayes", verbose=0)
    with pytest.raises(UnknownNameError):
        tune(build, {"learning_rate": [0.1]}, DATA, backend="dask", verbose=0)
    with pytest.raises(InputError, match="data must be"):
        tune(build, {"learning_rate": [0.1]}, DATA[:3], verbose=0)
    with pytest.raises(InputError, match="empty"):
        tune(build, {"learning_rate": []}, DATA, verbose=0)
    with pytest.raises(InputError):
        LogUniform(0.0, 1.0)
    with pytest.raises(InputError):
        IntRange(5, 2)
    with pytest.raises(InputError, match="picklable"):
        tune(lambda p: build(p), {"learning_rate": [0.1, 0.2]}, DATA, n_jobs=2, verbose=0)


def test_missing_optional_packages_name_the_pip_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # makes `import optuna` fail
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'glassnet\[tune\]'"):
        tune(build, {"learning_rate": [0.1]}, DATA, strategy="optuna", verbose=0)
    with pytest.raises(ImportError, match=r"pip install 'glassnet\[ray\]'"):
        tune(build, {"learning_rate": [0.1]}, DATA, backend="ray", verbose=0)


# ------------------------------------------------------------------------------------ result
def test_result_table_and_json(tmp_path):
    space = {"learning_rate": LogUniform(1e-3, 0.5), "units": [2, 4]}
    result = tune(build, space, DATA, strategy="random", trials=4, epochs=2, verbose=0)
    lines = result.table().splitlines()
    values = [float(line.split()[4]) for line in lines[3:]]
    assert values == sorted(values) and len(values) == 4
    restored = TuneResult.from_json(result.to_json(tmp_path / "search.json"))
    assert restored.best_params == result.best_params and restored.best_value == result.best_value
    assert json.loads((tmp_path / "search.json").read_text())["best_index"] == result.best_index
    assert isinstance(restored.space["learning_rate"], LogUniform)


def test_result_to_dataframe():
    pd = pytest.importorskip("pandas")
    result = tune(build, {"learning_rate": LogUniform(1e-3, 0.5), "units": [2, 4]}, DATA, trials=4, epochs=1,
                  verbose=0)
    frame = result.to_dataframe()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 4
    assert {"learning_rate", "units", "objective", "val_accuracy", "status"} <= set(frame.columns)


def test_plot_draws_trials_best_so_far_and_a_parameter_scatter(tmp_path):
    pytest.importorskip("matplotlib")
    result = tune(build, {"learning_rate": LogUniform(1e-3, 0.5), "units": IntRange(2, 5)}, DATA, trials=4,
                  epochs=1, verbose=0)
    fig = result.plot(to_file=tmp_path / "tune.png")
    assert (tmp_path / "tune.png").stat().st_size > 1000
    assert len(fig.axes) == 3  # objective per trial, parameter scatter, its colorbar
    assert fig.axes[1].get_xscale() == "log"
    one = tune(build, {"learning_rate": [0.01, 0.1, 0.3]}, DATA, strategy="grid", epochs=1, verbose=0)
    fig = one.plot()
    assert len(fig.axes) == 2 and fig.axes[1].get_xlabel() == "learning_rate"


def test_verbose_prints_one_line_per_trial(capsys):
    tune(build, {"learning_rate": [0.01, 0.1]}, DATA, strategy="grid", epochs=1, verbose=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[tune]")]
    assert len(lines) == 2 and "val_loss=" in lines[0] and "best=" in lines[1]


def test_data_given_as_x_y_is_split_once_with_the_seed():
    x = np.concatenate([DATA[0], DATA[2]])
    y = np.concatenate([DATA[1], DATA[3]])
    a = tune(build, {"learning_rate": [0.1]}, (x, y), strategy="grid", epochs=1, validation_split=0.25, verbose=0)
    b = tune(build, {"learning_rate": [0.1]}, (x, y), strategy="grid", epochs=1, validation_split=0.25, verbose=0)
    assert a.best_value == b.best_value and math.isfinite(a.best_value)


# ------------------------------------------------------------------------------------ parallel
def test_process_pool_gives_the_same_trials_as_in_process():
    space = {"learning_rate": [0.01, 0.3], "units": [2, 4]}
    serial = tune(build, space, DATA, strategy="grid", epochs=2, verbose=0)
    parallel = tune(build, space, DATA, strategy="grid", epochs=2, n_jobs=2, verbose=0)
    assert parallel.best_params == serial.best_params and parallel.best_index == serial.best_index
    assert [t["params"] for t in parallel.trials] == [t["params"] for t in serial.trials]
    np.testing.assert_allclose(_objectives(parallel), _objectives(serial), rtol=1e-5)


# ------------------------------------------------------------------------------------ optuna
def test_optuna_strategy():
    optuna = pytest.importorskip("optuna")
    assert optuna is not None
    space = {"learning_rate": LogUniform(1e-3, 0.5), "units": IntRange(2, 6), "batch_size": [8, 32]}
    a = tune(build, space, DATA, strategy="optuna", trials=5, epochs=2, seed=1, verbose=0)
    b = tune(build, space, DATA, strategy="optuna", trials=5, epochs=2, seed=1, verbose=0)
    assert len(a.trials) == 5 and all(t["status"] == "ok" for t in a.trials)
    assert [t["params"] for t in a.trials] == [t["params"] for t in b.trials]  # TPE is seeded
    for t in a.trials:
        assert 1e-3 <= t["params"]["learning_rate"] <= 0.5 and 2 <= t["params"]["units"] <= 6
    assert a.best_value == min(_objectives(a))


# ------------------------------------------------------------------------------------ ray
def test_ray_backend_matches_local():
    pytest.importorskip("ray")
    space = {"learning_rate": [0.01, 0.3], "units": [2, 4]}
    local = tune(build, space, DATA, strategy="grid", epochs=2, verbose=0)
    remote = tune(build, space, DATA, strategy="grid", epochs=2, backend="ray", n_jobs=2, verbose=0)
    assert remote.backend == "ray" and all(t["status"] == "ok" for t in remote.trials)
    assert remote.best_params == local.best_params and remote.best_index == local.best_index
    np.testing.assert_allclose(_objectives(remote), _objectives(local), rtol=1e-5)
    import ray

    assert not ray.is_initialized()  # the local instance started for the call was shut down
