"""Image augmentation layers: exact flips, whole-pixel translations (every fill mode), quarter-turn
rotations equal to np.rot90, the contrast formula, identity at inference, seeds, configs."""

import json

import numpy as np
import pytest

import glassnet as gn
from glassnet.diagnostics import gradcheck
from glassnet.errors import ShapeError
from glassnet.layers import Dense, Flatten
from glassnet.layers.augmentation import RandomContrast, RandomFlip, RandomRotation90, RandomTranslation


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def images(n=8, h=5, w=5, c=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(np.float32)


ALL_LAYERS = [
    lambda: RandomFlip(seed=1),
    lambda: RandomTranslation(0.3, 0.3, seed=1),
    lambda: RandomRotation90(seed=1),
    lambda: RandomContrast(0.5, seed=1),
]


@pytest.mark.parametrize("make", ALL_LAYERS, ids=["flip", "translation", "rotation", "contrast"])
def test_identity_at_inference_and_same_shape_in_training(make):
    layer = make()
    x = images()
    np.testing.assert_array_equal(layer(x).data, x)                  # default: not training
    np.testing.assert_array_equal(layer(x, training=False).data, x)
    y = layer(x, training=True).data
    assert y.shape == x.shape and y.dtype == np.float32
    assert not np.array_equal(y, x)
    assert layer.compute_output_shape((None, 5, 5, 3)) == (None, 5, 5, 3)


@pytest.mark.parametrize("make", ALL_LAYERS, ids=["flip", "translation", "rotation", "contrast"])
def test_seed_reproducibility_and_config_round_trip(make):
    x = images(seed=2)
    a, b = make(), make()
    first = a(x, training=True).data
    np.testing.assert_array_equal(first, b(x, training=True).data)
    assert not np.array_equal(a(x, training=True).data, first) or isinstance(a, RandomFlip)
    config = a.get_config()
    json.dumps(config)
    clone = type(a).from_config(config)
    assert clone.get_config() == config
    np.testing.assert_array_equal(clone(x, training=True).data, first)  # same seed, same first draw


def test_global_seed_makes_unseeded_layers_reproducible():
    x = images()
    gn.set_seed(5)
    first = RandomTranslation(0.4, 0.4)(x, training=True).data
    gn.set_seed(5)
    np.testing.assert_array_equal(RandomTranslation(0.4, 0.4)(x, training=True).data, first)


# ====================================================================== flip
@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_each_image_is_exactly_one_of_the_allowed_flips(mode):
    x = images(n=40, h=4, w=6)
    y = RandomFlip(mode, seed=3)(x, training=True).data
    allowed = {"horizontal": [(), (1,)], "vertical": [(), (0,)],
               "horizontal_and_vertical": [(), (0,), (1,), (0, 1)]}[mode]
    seen = set()
    for n in range(len(x)):
        matches = [axes for axes in allowed if np.array_equal(y[n], np.flip(x[n], axis=axes) if axes else x[n])]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(allowed)  # every option occurs among 40 images


def test_flip_single_image_and_channels_first():
    x = images(n=1)[0]
    y = RandomFlip("horizontal", seed=0)(x, training=True).data
    assert y.shape == x.shape
    assert np.array_equal(y, x) or np.array_equal(y, x[:, ::-1])
    batch = images(n=6)
    first = RandomFlip("vertical", seed=4, data_format="channels_first")
    out = first(batch.transpose(0, 3, 1, 2), training=True).data.transpose(0, 2, 3, 1)
    last = RandomFlip("vertical", seed=4)(batch, training=True).data
    np.testing.assert_array_equal(out, last)


def test_flip_is_differentiable():
    layer = RandomFlip(seed=0, dtype="float64")
    x = images(n=3, h=3, w=2, c=1).astype(np.float64)
    assert gradcheck(lambda a: RandomFlip(seed=0, dtype="float64")(a, training=True), x)
    assert layer(x, training=True).shape == x.shape
    with pytest.raises(ValueError, match="mode"):
        RandomFlip("diagonal")


# ====================================================================== translation
def _shifts(layer, n, h, w):
    """The (dy, dx) a fresh copy of a seeded layer draws for a batch of n images."""
    twin = type(layer).from_config(layer.get_config())
    return twin._shifts(twin._generator(), n, h, w)


def test_translation_moves_every_image_by_whole_pixels_with_constant_fill():
    x = images(n=10, h=6, w=7)
    layer = RandomTranslation(0.5, 0.5, fill_mode="constant", fill_value=-9.0, seed=2)
    dy, dx = _shifts(layer, 10, 6, 7)
    y = layer(x, training=True).data
    assert np.any(dy != 0) and np.any(dx != 0)
    for n in range(10):
        expected = np.full_like(x[n], -9.0)
        src = x[n][max(0, -dy[n]):6 - max(0, dy[n]), max(0, -dx[n]):7 - max(0, dx[n])]
        expected[max(0, dy[n]):max(0, dy[n]) + src.shape[0], max(0, dx[n]):max(0, dx[n]) + src.shape[1]] = src
        np.testing.assert_array_equal(y[n], expected)


def test_translation_by_an_exact_pixel_count_with_a_fixed_factor():
    x = images(n=2, h=10, w=10)
    layer = RandomTranslation((0.2, 0.2), (-0.3, -0.3), fill_mode="constant")  # exactly 2 down, 3 left
    y = layer(x, training=True).data
    np.testing.assert_array_equal(y[:, 2:, :7], x[:, :8, 3:])
    np.testing.assert_array_equal(y[:, :2], 0.0)
    np.testing.assert_array_equal(y[:, :, 7:], 0.0)


@pytest.mark.parametrize("mode, numpy_mode", [("reflect", "symmetric"), ("mirror", "reflect"), ("wrap", "wrap"),
                                              ("nearest", "edge")])
def test_translation_fill_modes_match_numpy_padding(mode, numpy_mode):
    x = images(n=2, h=6, w=6)
    layer = RandomTranslation((0.5, 0.5), (-0.5, -0.5), fill_mode=mode)  # 3 down, 3 left
    y = layer(x, training=True).data
    padded = np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)), mode=numpy_mode)
    np.testing.assert_array_equal(y, padded[:, 0:6, 6:12])


def test_translation_differentiable_and_validated():
    x = images(n=2, h=4, w=4, c=1).astype(np.float64)
    assert gradcheck(lambda a: RandomTranslation(0.5, 0.5, fill_mode="constant", seed=3, dtype="float64")(
        a, training=True), x)
    with pytest.raises(ValueError, match="fill_mode"):
        RandomTranslation(0.1, 0.1, fill_mode="bogus")
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        RandomTranslation(1.5, 0.1)
    with pytest.raises(ValueError, match="lower bound"):
        RandomTranslation((0.3, 0.1), 0.1)


# ====================================================================== rotation
def test_rotation_equals_np_rot90_on_the_image_axes():
    x = images(n=40, h=5, w=5)
    y = RandomRotation90(seed=6)(x, training=True).data
    ks = []
    for n in range(len(x)):
        matches = [k for k in range(4) if np.array_equal(y[n], np.rot90(x[n], k, axes=(0, 1)))]
        assert len(matches) == 1
        ks.append(matches[0])
    assert set(ks) == {0, 1, 2, 3}
    batch_rot = np.rot90(x, 1, axes=(1, 2))
    np.testing.assert_array_equal(RandomRotation90(turns=1)(x, training=True).data, batch_rot)
    np.testing.assert_array_equal(RandomRotation90(turns=[-1])(x, training=True).data, np.rot90(x, 3, axes=(1, 2)))


def test_rotation_non_square_images_need_even_turns():
    x = images(n=6, h=4, w=6)
    with pytest.raises(ShapeError, match="square"):
        RandomRotation90()(x, training=True)
    y = RandomRotation90(turns=(0, 2), seed=1)(x, training=True).data
    for n in range(6):
        assert np.array_equal(y[n], x[n]) or np.array_equal(y[n], x[n, ::-1, ::-1])
    with pytest.raises(ShapeError, match="square"):
        gn.Sequential([gn.Input((4, 6, 3)), RandomRotation90(), Flatten(), Dense(1)])


def test_rotation_differentiable_and_validated():
    x = images(n=2, h=3, w=3, c=1).astype(np.float64)
    assert gradcheck(lambda a: RandomRotation90(seed=2, dtype="float64")(a, training=True), x)
    with pytest.raises(ValueError, match="quarter turns"):
        RandomRotation90(turns=[0.5])


# ====================================================================== contrast
def test_contrast_formula_per_image_and_channel():
    x = np.abs(images(n=6, h=4, w=4)) * 50
    layer = RandomContrast((0.3, 0.6), value_range=None, seed=9)
    c = np.random.default_rng(9).uniform(0.7, 1.6, size=(6, 1, 1, 1))
    y = layer(x, training=True).data
    mean = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) * c + mean, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-4)  # means kept
    ratio = y.std(axis=(1, 2)) / x.std(axis=(1, 2))  # one factor per image, shared by its channels
    np.testing.assert_allclose(ratio, np.broadcast_to(c[:, 0, 0], (6, 3)), rtol=1e-4)
    assert np.all((ratio >= 0.7 - 1e-5) & (ratio <= 1.6 + 1e-5))


def test_contrast_clips_to_value_range():
    x = np.random.default_rng(0).uniform(0, 1, size=(20, 4, 4, 3)).astype(np.float32)
    y = RandomContrast(1.0, value_range=(0, 1), seed=0)(x, training=True).data
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert y.max() == 1.0 or y.min() == 0.0  # some factor near 2 pushes values past the range
    assert gradcheck(lambda a: RandomContrast(0.5, value_range=None, seed=1, dtype="float64")(a, training=True),
                     x[:2, :2, :2, :1].astype(np.float64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        RandomContrast(1.5)


# ====================================================================== in a model
def test_augmentation_in_a_model_trains_and_saves(tmp_path):
    x = images(n=32, h=6, w=6, c=1)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.float32)[:, None]
    model = gn.Sequential([gn.Input((6, 6, 1)), RandomFlip(seed=0), RandomTranslation(0.2, 0.2, seed=0),
                           RandomRotation90(seed=0), RandomContrast(0.2, value_range=None, seed=0),
                           Flatten(), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "aug.glassnet"
    model.save(path)
    loaded = gn.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_random_rotation_uses_quarter_turns_within_factor():
    from glassnet.layers.augmentation import RandomRotation

    layer = RandomRotation(0.25, seed=3)
    images = np.arange(2 * 4 * 4 * 1, dtype="float32").reshape(2, 4, 4, 1)
    allowed = [np.rot90(images[0], k, axes=(0, 1)) for k in (-1, 0, 1)]
    seen = set()
    for _ in range(40):
        out = layer(images, training=True).numpy()
        matches = [k for k, a in zip((-1, 0, 1), allowed) if np.array_equal(out[0], a)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {-1, 0, 1}
    np.testing.assert_array_equal(layer(images, training=False).numpy(), images)
    assert RandomRotation.from_config(layer.get_config()).turns == [-1, 0, 1]
    with pytest.raises(ValueError, match="multiples of 90"):
        RandomRotation(0.1)
