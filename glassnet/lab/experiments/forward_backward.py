"""Forward and backward pass by hand (SPEC §1, exercise 6): the 3-4-1 network of the course, computed in
NumPy with the chain rule, by a glassnet model (explain mode and autodiff), and by finite differences.

Column convention of the hand computation (as in the course)::

    Z1 = W1·Xᵀ + b1    A1 = relu(Z1)    Z2 = W2·A1 + b2    A2 = σ(Z2)    L = −[y log A2 + (1−y) log(1−A2)]

    ∂L/∂A2 = −y/A2 + (1−y)/(1−A2)      ∂A2/∂Z2 = A2(1−A2)      ∂L/∂Z2 = ∂L/∂A2 · ∂A2/∂Z2   (= A2 − y)
    ∂L/∂W2 = ∂L/∂Z2·A1ᵀ                ∂L/∂b2 = Σ ∂L/∂Z2
    ∂L/∂A1 = W2ᵀ·∂L/∂Z2                ∂L/∂Z1 = ∂L/∂A1 ⊙ 1[Z1 > 0]
    ∂L/∂W1 = ∂L/∂Z1·X                  ∂L/∂b1 = Σ ∂L/∂Z1

glassnet uses rows (``X·W + b``), so its kernels are the transposes: ``kernel1 = W1ᵀ`` (3, 4).
"""

from __future__ import annotations

import numpy as np

from ... import diagnostics, layers, losses, plot
from ...models import Sequential
from ..experiment import Experiment

X_COURSE = np.array([[1.0, 0.5, -1.5]])
Z1_COURSE = np.array([-0.301989, -0.156122, 0.942224, 0.447158])
A2_COURSE = 0.494641
NAMES = ("W1", "b1", "W2", "b2")


def course_weights():
    """The course's draw: ``np.random.seed(42)``; W1=randn(4,3), b1=randn(4,1), W2=randn(1,4), b2=randn(1,1)
    (column convention). Uses NumPy's legacy generator on purpose (that is what the course did), in a local
    ``RandomState`` so no global state changes."""
    state = np.random.RandomState(42)
    W1 = state.randn(4, 3)
    b1 = state.randn(4, 1)
    W2 = state.randn(1, 4)
    b2 = state.randn(1, 1)
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def hand_forward(params, X):
    """The forward pass in NumPy, column convention; X is (m, 3). Returns the intermediate values."""
    Z1 = params["W1"] @ X.T + params["b1"]
    A1 = np.maximum(0.0, Z1)
    Z2 = params["W2"] @ A1 + params["b2"]
    A2 = 1.0 / (1.0 + np.exp(-Z2))
    return {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def hand_loss(params, X, y):
    """Mean binary cross-entropy over the m samples."""
    A2 = hand_forward(params, X)["A2"]
    return float(np.mean(-(y * np.log(A2) + (1 - y) * np.log(1 - A2))))


def hand_backward(params, X, y):
    """The chain rule, layer by layer, from the loss back to W1 (see the module docstring); y is (1, m)."""
    m = X.shape[0]
    f = hand_forward(params, X)
    dA2 = (-(y / f["A2"]) + (1 - y) / (1 - f["A2"])) / m   # ∂L/∂A2 (the 1/m of the batch mean)
    dZ2 = dA2 * f["A2"] * (1 - f["A2"])                    # · σ'(Z2)
    grads = {"W2": dZ2 @ f["A1"].T, "b2": dZ2.sum(axis=1, keepdims=True)}
    dA1 = params["W2"].T @ dZ2                             # back through W2
    dZ1 = dA1 * (f["Z1"] > 0)                              # · relu'(Z1)
    grads["W1"] = dZ1 @ X
    grads["b1"] = dZ1.sum(axis=1, keepdims=True)
    return grads, {"dA2": dA2, "dZ2": dZ2, "dA1": dA1, "dZ1": dZ1}


def numeric_gradients(params, X, y, eps=1e-6):
    """Central differences (L(θ+ε) − L(θ−ε)) / 2ε of the hand loss, element by element (float64)."""
    grads = {}
    for name in NAMES:
        value = params[name]
        grad = np.zeros_like(value)
        flat, gflat = value.reshape(-1), grad.reshape(-1)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = hand_loss(params, X, y)
            flat[i] = original - eps
            minus = hand_loss(params, X, y)
            flat[i] = original
            gflat[i] = (plus - minus) / (2 * eps)
        grads[name] = grad
    return grads


def max_relative_error(a, b, floor=1e-8) -> float:
    """max_i |a_i − b_i| / max(|a_i|, |b_i|, floor) (0 where both are exactly 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


def build_model(params, dtype="float32"):
    """The same network in glassnet (row convention: kernels are the transposed course matrices).
    ``dtype`` is given to the Sequential too: it casts its inputs to its own dtype (not the Input's)."""
    model = Sequential([layers.Input(shape=(3,), dtype=dtype), layers.Dense(4, activation="relu", dtype=dtype),
                        layers.Dense(1, activation="sigmoid", dtype=dtype)], dtype=dtype)
    model.set_weights([params["W1"].T, params["b1"].ravel(), params["W2"].T, params["b2"].ravel()])
    return model


def autodiff_gradients(model, X, y):
    """The low-level loop: loss = bce(y, model(x)); zero_grad; backward — then the kernels' .grad,
    transposed back to the column convention."""
    loss_fn = losses.get("binary_crossentropy")
    loss = loss_fn(y.T, model(X))
    model.zero_grad()
    loss.backward()
    k1, c1, k2, c2 = (w.grad for w in model.weights)
    grads = {"W1": k1.T, "b1": c1.reshape(-1, 1), "W2": k2.T, "b2": c2.reshape(-1, 1)}
    return float(np.asarray(loss.data)), {k: np.asarray(v, dtype=np.float64) for k, v in grads.items()}


def _fmt(values, digits=6) -> str:
    flat = np.asarray(values, dtype=np.float64).ravel()
    return "[" + ", ".join(f"{v:.{digits}f}" for v in flat) + "]"


class ForwardBackwardExperiment(Experiment):
    name = "forward-backward"
    title = "Forward and backward pass by hand: backpropagation is the chain rule"
    claim = ("Backpropagation is the chain rule ∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w applied layer by layer from the "
             "output back to the input; it gives the exact gradient of the loss with respect to every weight.")
    criterion = ("Supported when (1) the course's 3-4-1 network (np.random.seed(42), X=[1, 0.5, −1.5], ReLU then "
                 "sigmoid) gives A2 = 0.494641 and Z1 = [−0.301989, −0.156122, 0.942224, 0.447158] "
                 "both by hand in NumPy and through glassnet (set_weights + explain), i.e. within 6e-7 (the course's "
                 "rounding plus float32); (2) for that sample and for a "
                 "random batch, the hand chain-rule gradients of every W and b agree with glassnet's autodiff "
                 "(float64, max relative error < 1e-8) and with central finite differences (max relative error "
                 "< 1e-5); (3) glassnet's whole-model gradcheck passes. Any mismatch refutes it.")
    parameters = {"target": 1.0, "batch_size": 64, "eps": 1e-6}
    quick_parameters = {"batch_size": 16}

    def run(self, lab):
        p = lab.params
        params = course_weights()
        y1 = np.array([[p["target"]]])
        results = {"target": p["target"]}

        # ---- forward by hand
        hand = hand_forward(params, X_COURSE)
        results["hand_Z1"] = hand["Z1"].ravel()
        results["hand_A1"] = hand["A1"].ravel()
        results["hand_Z2"] = float(hand["Z2"][0, 0])
        results["hand_A2"] = float(hand["A2"][0, 0])
        lab.progress(f"by hand: Z1 = {_fmt(hand['Z1'])}, A2 = {results['hand_A2']:.6f}")

        # ---- forward and backward through glassnet's explain mode (the float32 model, as a user builds it)
        model32 = build_model(params)
        exp = diagnostics.explain(model32, X_COURSE, backward=True, y=y1, loss="binary_crossentropy", print=False)
        values, grads = exp.values, exp.grads
        results["explain_Z1"] = np.asarray(values["Z1"]).ravel()
        results["explain_A2"] = float(np.asarray(values["A2"]).ravel()[0])
        results["explain_loss"] = float(exp.loss)
        results["explain_text"] = exp.to_text()
        lab.progress(f"glassnet explain: Z1 = {_fmt(values['Z1'])}, A2 = {results['explain_A2']:.6f}, "
                     f"L = {exp.loss:.6f}")
        results["Z1_max_abs_error_hand"] = float(np.max(np.abs(hand["Z1"].ravel() - Z1_COURSE)))
        results["Z1_max_abs_error_explain"] = float(np.max(np.abs(results["explain_Z1"] - Z1_COURSE)))
        results["A2_abs_error_hand"] = abs(results["hand_A2"] - A2_COURSE)
        results["A2_abs_error_explain"] = abs(results["explain_A2"] - A2_COURSE)

        rows = []
        for record in exp:
            k = record.index
            rows.append([f"[{k}] {record.name}", f"Z{k}", _fmt(record.z)])
            rows.append(["", f"A{k} = {record.activation}(Z{k})", _fmt(record.output)])
        for record in reversed(exp.records):
            k = record.index
            rows.append([f"[{k}] {record.name}", f"∂L/∂A{k}", _fmt(record.grad_output)])
            rows.append(["", f"{record.activation}'(Z{k})", _fmt(record.activation_derivative)])
            rows.append(["", f"∂L/∂Z{k} = ∂L/∂A{k} ⊙ f'(Z{k})", _fmt(record.grad_z)])
            rows.append(["", f"∂L/∂W{k} = A{k - 1}ᵀ·∂L/∂Z{k}  (row convention, {record.grad_weights['W'].shape})",
                         _fmt(record.grad_weights["W"])])
            rows.append(["", f"∂L/∂b{k}", _fmt(record.grad_weights["b"])])
        lab.table("glassnet.explain: the course example, layer by layer", ["layer", "quantity", "values"], rows,
                  f"X = {_fmt(X_COURSE, 1)}, y = {p['target']:g}, L = binary cross-entropy = {exp.loss:.6f}. "
                  "Forward values come from the model's own forward pass; backward values from the chain rule "
                  "with f'(Z) by autodiff (explain mode).")

        # ---- the gradients of the single sample four ways
        hand_grads, hand_deltas = hand_backward(params, X_COURSE, y1)
        model64 = build_model(params, dtype="float64")
        auto_loss, auto_grads = autodiff_gradients(model64, X_COURSE, y1)
        numeric = numeric_gradients({k: v.copy() for k, v in params.items()}, X_COURSE, y1, p["eps"])
        explain_grads = {"W1": np.asarray(grads["W1"]).T, "b1": np.asarray(grads["b1"]).reshape(-1, 1),
                         "W2": np.asarray(grads["W2"]).T, "b2": np.asarray(grads["b2"]).reshape(-1, 1)}
        results["hand_loss"] = hand_loss(params, X_COURSE, y1)
        results["autodiff_loss"] = auto_loss
        results["dZ2_hand"] = float(hand_deltas["dZ2"][0, 0])
        results["dZ2_shortcut_A2_minus_y"] = results["hand_A2"] - p["target"]
        single = {}
        for name in NAMES:
            single[name] = {
                "hand": hand_grads[name].ravel(),
                "hand_vs_autodiff": max_relative_error(hand_grads[name], auto_grads[name]),
                "hand_vs_numeric": max_relative_error(hand_grads[name], numeric[name]),
                "autodiff_vs_numeric": max_relative_error(auto_grads[name], numeric[name]),
                "explain_vs_hand": max_relative_error(explain_grads[name], hand_grads[name]),
            }
        results["single"] = single
        lab.table("Gradients of the course example: hand (chain rule) vs autodiff vs finite differences",
                  ["parameter", "∂L/∂θ by hand", "hand vs autodiff", "hand vs finite diff.",
                   "autodiff vs finite diff.", "explain (float32) vs hand"],
                  [[n, _fmt(s["hand"]), s["hand_vs_autodiff"], s["hand_vs_numeric"], s["autodiff_vs_numeric"],
                    s["explain_vs_hand"]] for n, s in single.items()],
                  "Max relative error max_i |a−b| / max(|a|, |b|, 1e-8). Autodiff and finite differences in "
                  "float64; explain mode runs the float32 model, so ~1e-7 is its rounding.")
        lab.progress("single sample: max relative error hand vs autodiff "
                     f"{max(s['hand_vs_autodiff'] for s in single.values()):.2e}, hand vs finite differences "
                     f"{max(s['hand_vs_numeric'] for s in single.values()):.2e}")

        # ---- a random batch through the same network (the batch mean adds a 1/m)
        Xb = lab.rng.standard_normal((p["batch_size"], 3))
        yb = (lab.rng.random((1, p["batch_size"])) < 0.5).astype(np.float64)
        hand_b, _ = hand_backward(params, Xb, yb)
        _, auto_b = autodiff_gradients(model64, Xb, yb)
        numeric_b = numeric_gradients({k: v.copy() for k, v in params.items()}, Xb, yb, p["eps"])
        batch = {name: {"hand_vs_autodiff": max_relative_error(hand_b[name], auto_b[name]),
                        "hand_vs_numeric": max_relative_error(hand_b[name], numeric_b[name]),
                        "autodiff_vs_numeric": max_relative_error(auto_b[name], numeric_b[name]),
                        "norm": float(np.linalg.norm(hand_b[name]))} for name in NAMES}
        results["batch"] = batch
        lab.table(f"A random batch of {p['batch_size']} samples (same weights)",
                  ["parameter", "‖∂L/∂θ‖", "hand vs autodiff", "hand vs finite diff.", "autodiff vs finite diff."],
                  [[n, b["norm"], b["hand_vs_autodiff"], b["hand_vs_numeric"], b["autodiff_vs_numeric"]]
                   for n, b in batch.items()])

        # ---- glassnet's own gradient check of the whole model (float64 central differences, per layer)
        report = diagnostics.gradcheck(model32, Xb, yb.T, "binary_crossentropy", eps=p["eps"],
                                       raise_exception=False)
        results["gradcheck_passed"] = bool(report.passed)
        results["gradcheck_rows"] = [{"layer": r.layer, "check": r.check, "max_rel_error": r.max_rel_error,
                                      "passed": r.passed} for r in report.rows]
        lab.table("glassnet.diagnostics.gradcheck(model, X, y, 'binary_crossentropy') on the batch",
                  ["layer", "check", "checked", "max relative error", "passed"],
                  [[r.layer, r.check, f"{r.checked}/{r.size}", r.max_rel_error, r.passed] for r in report.rows])
        lab.progress(f"gradcheck of the whole model: {'passed' if report.passed else 'FAILED'}")

        # ---- figures
        figure = plot._figure(figsize=(10.0, 4.0))
        left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
        h = np.concatenate([hand_b[n].ravel() for n in NAMES])
        a = np.concatenate([auto_b[n].ravel() for n in NAMES])
        f = np.concatenate([numeric_b[n].ravel() for n in NAMES])
        span = [min(h.min(), a.min(), f.min()), max(h.max(), a.max(), f.max())]
        left.plot(span, span, color="0.6", linewidth=0.8)
        left.scatter(h, a, marker="o", s=40, facecolors="none", edgecolors="tab:blue", label="autodiff")
        left.scatter(h, f, marker="x", s=20, color="tab:orange", label="finite differences")
        left.set_xlabel("∂L/∂θ by hand (chain rule)")
        left.set_ylabel("∂L/∂θ")
        left.set_title(f"every weight and bias, batch of {p['batch_size']}")
        left.legend()
        width = 0.27
        positions = np.arange(len(NAMES))
        floor = 1e-17
        for i, (key, label) in enumerate([("hand_vs_autodiff", "hand vs autodiff"),
                                          ("hand_vs_numeric", "hand vs finite diff."),
                                          ("autodiff_vs_numeric", "autodiff vs finite diff.")]):
            right.bar(positions + (i - 1) * width, [max(batch[n][key], floor) for n in NAMES], width, label=label)
        right.set_yscale("log")
        right.set_xticks(positions, NAMES)
        right.set_ylabel("max relative error")
        right.set_title("agreement per parameter (floor 1e-17 = exact)")
        right.legend(fontsize=8)
        lab.figure("gradients_agree", figure, "Hand chain rule, autodiff and finite differences give the same "
                                              "gradient for every parameter")
        lab.note("Column convention by hand (Z = W·Xᵀ + b), row convention in glassnet (Z = X·W + b): "
                 "glassnet's kernels are the transposed course matrices.")
        return results

    def verdict(self, results):
        forward_ok = (results["A2_abs_error_hand"] <= 6e-7 and results["A2_abs_error_explain"] <= 6e-7
                      and results["Z1_max_abs_error_hand"] <= 6e-7 and results["Z1_max_abs_error_explain"] <= 6e-7)
        worst_auto = max(s["hand_vs_autodiff"] for part in ("single", "batch") for s in results[part].values())
        worst_numeric = max(max(s["hand_vs_numeric"], s["autodiff_vs_numeric"])
                            for part in ("single", "batch") for s in results[part].values())
        z1_error = max(results["Z1_max_abs_error_hand"], results["Z1_max_abs_error_explain"])
        supported = bool(forward_ok and worst_auto < 1e-8 and worst_numeric < 1e-5 and results["gradcheck_passed"])
        explanation = (f"A2 = {results['hand_A2']:.6f} by hand and {results['explain_A2']:.6f} through glassnet "
                       f"(course: {A2_COURSE}); Z1 off by at most {z1_error:.1e}. "
                       f"Hand chain rule vs autodiff: max relative error {worst_auto:.1e}; vs finite differences: "
                       f"{worst_numeric:.1e}; whole-model gradcheck "
                       f"{'passed' if results['gradcheck_passed'] else 'FAILED'}.")
        return supported, explanation


EXPERIMENT = ForwardBackwardExperiment()
