"""NumPy augmentation and the batch sequence: exact behaviour with seeded generators."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emostream.training.augment import (
    AugmentSpec,
    affine,
    augment_batch,
    camera,
    erase,
    gaussian_matrix,
    jpeg_blocks,
    mix,
    resample_matrix,
)
from emostream.training.batches import make_batches
from emostream.training.data import Dataset

NONE = AugmentSpec(flip=False, rotation_deg=0, shift=0, zoom=0, contrast=0)


def _images(n: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 48, 48, 1)).astype(np.float32)


def _labels(n: int = 8) -> np.ndarray:
    return np.eye(7, dtype=np.float32)[np.arange(n) % 7]


def test_affine_without_any_change_is_the_identity() -> None:
    images = _images()
    assert np.allclose(affine(images, np.random.default_rng(1), NONE), images, atol=1e-5)


def test_flip_alone_mirrors_about_half_of_the_faces_exactly() -> None:
    images = _images(64)
    out = affine(images, np.random.default_rng(2), AugmentSpec(flip=True, rotation_deg=0, shift=0, zoom=0, contrast=0))
    mirrored = [np.allclose(o, i[:, ::-1], atol=1e-5) for o, i in zip(out, images, strict=True)]
    same = [np.allclose(o, i, atol=1e-5) for o, i in zip(out, images, strict=True)]
    assert all(m or s for m, s in zip(mirrored, same, strict=True)), "a flip is an exact mirror or nothing"
    assert 16 < sum(mirrored) < 48, f"about half the faces should be mirrored, got {sum(mirrored)} of 64"


def test_shift_moves_content_and_replicates_the_edge() -> None:
    image = np.zeros((1, 48, 48, 1), np.float32)
    image[0, :, 24:] = 1.0  # right half bright
    out = affine(image, np.random.default_rng(3), AugmentSpec(flip=False, rotation_deg=0, shift=0.2, zoom=0, contrast=0))
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out, image), "a random shift of up to 20% moves the edge"
    assert np.allclose(out[0, :, 0], 0.0) and np.allclose(out[0, :, -1], 1.0), "edges are replicated, not filled with black"


def test_erasing_fills_one_rectangle_of_the_allowed_size() -> None:
    images = np.zeros((32, 48, 48, 1), np.float32)
    out = erase(images, np.random.default_rng(4), probability=1.0)
    areas = (out != 0).reshape(32, -1).sum(axis=1) / (48 * 48)
    assert np.all(areas > 0.0) and np.all(areas <= 0.26), f"each face gets one 2-25% rectangle, got {areas}"
    assert np.array_equal(erase(images, np.random.default_rng(4), probability=0.0), images)


@pytest.mark.parametrize("sigma", [0.6, 1.5])
def test_the_camera_blur_is_opencvs_gaussian(sigma: float) -> None:
    face = _images(1)[0, :, :, 0].astype(np.float64)
    ours = gaussian_matrix(48, sigma) @ face @ gaussian_matrix(48, sigma).T
    theirs = cv2.GaussianBlur(face, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    assert np.abs(ours - theirs).max() < 1e-3


@pytest.mark.parametrize("small", [12, 24, 36])
def test_the_camera_low_resolution_is_opencvs_area_down_linear_up(small: int) -> None:
    face = _images(1)[0, :, :, 0].astype(np.float64)
    ours = resample_matrix(48, small) @ face @ resample_matrix(48, small).T
    down = cv2.resize(face, (small, small), interpolation=cv2.INTER_AREA)
    theirs = cv2.resize(down, (48, 48), interpolation=cv2.INTER_LINEAR)
    assert np.abs(ours - theirs).max() < 1e-6


@pytest.mark.parametrize("quality", [10, 30, 60])
def test_the_camera_jpeg_blocks_lose_what_a_real_jpeg_encoder_loses(quality: int) -> None:
    grey = cv2.GaussianBlur((_images(1, seed=9)[0, :, :, 0] * 255).astype(np.uint8), (0, 0), 1.2)  # face-like: smooth, not noise
    ok, data = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    real = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) / 255.0
    ours = jpeg_blocks(grey / 255.0, quality)
    lost = np.abs(real - grey / 255.0).mean()
    assert lost > 0.002, "the real encoder loses something at this quality"
    assert np.abs(ours - real).mean() < 0.35 * lost, "ours loses the same things, not merely as much"
    assert np.abs(jpeg_blocks(grey / 255.0, 100) - grey / 255.0).max() <= 1 / 255 + 1e-9, "quality 100 is nearly lossless"


def test_the_camera_changes_the_share_of_faces_asked_and_keeps_their_range() -> None:
    images = _images(200)
    out = camera(images, np.random.default_rng(6), probability=0.5)
    changed = (np.abs(out - images) > 1e-6).reshape(200, -1).any(axis=1)
    assert 70 < changed.sum() < 130, f"about half the faces go through the camera, got {changed.sum()} of 200"
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0
    assert np.array_equal(camera(images, np.random.default_rng(6), probability=0.0), images)
    assert np.array_equal(camera(images, np.random.default_rng(6), 0.5), out), "the same generator state, the same faces"


def test_the_camera_treats_every_channel_of_a_colour_face_alike() -> None:
    grey = _images(16)
    out = camera(np.repeat(grey, 3, axis=3), np.random.default_rng(8), probability=1.0)
    assert np.allclose(out[..., 0], out[..., 1]) and np.allclose(out[..., 1], out[..., 2])


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_mixing_blends_labels_by_the_share_of_pixels(kind: str) -> None:
    images = np.concatenate([np.zeros((4, 48, 48, 1)), np.ones((4, 48, 48, 1))]).astype(np.float32)
    labels = np.eye(7, dtype=np.float32)[[0] * 4 + [1] * 4]
    spec = AugmentSpec(mixup=1.0) if kind == "mixup" else AugmentSpec(cutmix=1.0)
    out, mixed = mix(images, labels, np.random.default_rng(5), spec)
    assert np.allclose(mixed.sum(axis=1), 1.0), "mixed labels stay distributions"
    # Class 1 faces are all ones and class 0 all zeros: the mean pixel is the share of class 1.
    assert np.allclose(out.mean(axis=(1, 2, 3)), mixed[:, 1], atol=1e-5)


def test_same_generator_state_gives_the_same_batch() -> None:
    spec = AugmentSpec(erasing=0.5, mixup=0.4, cutmix=1.0)
    a = augment_batch(_images(), _labels(), np.random.default_rng([7, 3, 1]), spec)
    b = augment_batch(_images(), _labels(), np.random.default_rng([7, 3, 1]), spec)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_a_batch_sequence_resumed_at_epoch_k_repeats_the_uninterrupted_one() -> None:
    pytest.importorskip("keras")
    ds = Dataset((np.arange(20)[:, None, None, None] * np.ones((1, 48, 48, 1))).astype(np.uint8), _labels(20))
    spec = AugmentSpec(erasing=0.5)
    running = make_batches(ds, 8, training=True, seed=11, augment=spec)
    running.on_epoch_end()
    running.on_epoch_end()
    resumed = make_batches(ds, 8, training=True, seed=11, first_epoch=2, augment=spec)
    for i in range(len(resumed)):
        assert np.array_equal(running[i][0], resumed[i][0]), f"batch {i} of epoch 2 differs after a resume"
    fresh = make_batches(ds, 8, training=True, seed=11, augment=spec)
    assert not np.array_equal(fresh[0][0], resumed[0][0]), "each epoch reshuffles"
    val = make_batches(ds, 8, training=False)
    assert np.allclose(val[0][0], ds.images[:8] / 255.0), "validation batches are in order and not augmented"


def test_steps_per_epoch_shortens_training_epochs_only() -> None:
    pytest.importorskip("keras")
    ds = Dataset(np.zeros((40, 48, 48, 1), np.uint8), _labels(40))
    assert len(make_batches(ds, 8, training=True, steps=2)) == 2, "an epoch is the first 2 batches of a fresh permutation"
    assert len(make_batches(ds, 8, training=True, steps=99)) == 5, "never more than the whole set"
    assert len(make_batches(ds, 8, training=False, steps=2)) == 5, "validation always covers every face"
