"""A GAN trained with the low-level loop: a generator and a discriminator, two optimizers, and
alternating steps, learning a ring of 8 Gaussians in 2-D.

Discriminator step: maximise log D(real) + log(1 − D(G(z))) (BCE on real → 1, fake → 0).
Generator step (non-saturating): maximise log D(G(z)) (BCE on fake → 1), only G's weights updated.

    python examples/gan_2d.py
"""

from __future__ import annotations

import numpy as np

import glassnet as gn
from glassnet import layers, losses, optimizers

MODES = 8
RADIUS = 2.0
NOISE = 0.05
LATENT = 8


def mode_centres() -> np.ndarray:
    angles = 2 * np.pi * np.arange(MODES) / MODES
    return RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sample_real(rng: np.random.Generator, n: int) -> np.ndarray:
    centres = mode_centres()[rng.integers(0, MODES, n)]
    return (centres + NOISE * rng.standard_normal((n, 2))).astype("float32")


def build_generator() -> gn.Sequential:
    return gn.Sequential([gn.Input(shape=(LATENT,)), layers.Dense(64, activation="relu"),
                          layers.Dense(64, activation="relu"), layers.Dense(2)], name="generator")


def build_discriminator() -> gn.Sequential:
    return gn.Sequential([gn.Input(shape=(2,)), layers.Dense(64), layers.LeakyReLU(0.2),
                          layers.Dense(64), layers.LeakyReLU(0.2), layers.Dense(1)], name="discriminator")


def sample_quality(points: np.ndarray) -> dict:
    """Mean distance to the nearest true mode, and how many modes get at least 2% of the samples."""
    distances = np.linalg.norm(points[:, None, :] - mode_centres()[None], axis=2)
    nearest = distances.argmin(axis=1)
    close = distances.min(axis=1) < 0.5
    counts = np.bincount(nearest[close], minlength=MODES)
    return {"mean_distance_to_mode": float(distances.min(axis=1).mean()),
            "fraction_near_a_mode": float(close.mean()),
            "modes_covered": int((counts >= 0.02 * len(points)).sum())}


def main(quick: bool = False, seed: int = 0, steps: int | None = None, batch_size: int = 128) -> dict:
    gn.set_seed(seed)
    rng = np.random.default_rng(seed)
    generator, discriminator = build_generator(), build_discriminator()
    bce = losses.BinaryCrossentropy(from_logits=True)
    g_optimizer = optimizers.Adam(1e-3, beta_1=0.5)
    d_optimizer = optimizers.Adam(1e-3, beta_1=0.5)
    ones, zeros = np.ones((batch_size, 1), "float32"), np.zeros((batch_size, 1), "float32")
    evaluation_noise = rng.standard_normal((2000, LATENT)).astype("float32")
    before = sample_quality(generator.predict(evaluation_noise, verbose=0))
    steps = steps or (300 if quick else 3000)
    log = []
    for step in range(steps):
        # 1. discriminator: real → 1, generated (detached from G) → 0
        real = sample_real(rng, batch_size)
        fake = generator(rng.standard_normal((batch_size, LATENT)).astype("float32"), training=True).detach()
        d_loss = bce(ones, discriminator(real, training=True)) + bce(zeros, discriminator(fake, training=True))
        discriminator.zero_grad()
        d_loss.backward()
        d_optimizer.step(discriminator.parameters())
        # 2. generator: make D call its samples real; only G's weights move
        z = rng.standard_normal((batch_size, LATENT)).astype("float32")
        g_loss = bce(ones, discriminator(generator(z, training=True), training=True))
        generator.zero_grad()
        discriminator.zero_grad()
        g_loss.backward()
        g_optimizer.step(generator.parameters())
        if step % 100 == 0 or step == steps - 1:
            log.append((step, d_loss.item(), g_loss.item()))
    after = sample_quality(generator.predict(evaluation_noise, verbose=0))
    return {"before": before, "after": after, "log": log, "generator": generator}


if __name__ == "__main__":
    results = main()
    for step, d_loss, g_loss in results["log"][::5]:
        print(f"step {step:5d}  D loss {d_loss:.3f}  G loss {g_loss:.3f}")
    for when in ("before", "after"):
        q = results[when]
        print(f"{when:>6} training: mean distance to nearest mode {q['mean_distance_to_mode']:.3f}, "
              f"{q['fraction_near_a_mode']:.0%} of samples near a mode, {q['modes_covered']}/{MODES} modes covered")
