"""CSI data: the ``--data`` image formats, a deterministic synthetic image set, preprocessing.

``--data`` format, either

- a folder of PNG or JPEG images (``.png``, ``.jpg``, ``.jpeg``; any size and colour mode; converted to grey
  levels and resized to ``--image-size``) in one folder per class, named ``0``, ``1``, ``2``, ``3`` (CSI
  grades) and ``unknown``: ``DIR/<class>/*.png``, split 80/20 by a seeded shuffle (``--data-seed``), or
  ``DIR/train/<class>/*.png`` and ``DIR/val/<class>/*.png`` for a split of your own. Classes without a
  folder are simply absent;
- or ``csi.npz`` (in the folder, or the file itself) with ``images`` [N, H, W] (or [N, 1, H, W]; uint8 0-255
  or floats), ``labels`` [N] (0-3 grades, 4 unknown, or the class names above) and optionally ``split`` [N]
  (0 train, 1 validation).

Preparation (cached across trials, so a study decodes its images once): grey levels resized to
``--image-size`` square, scaled to [0, 1] and standardised with the training split's mean and deviation.

Synthetic data (no ``--data``): chest-radiograph-like images rendered at twice the resolution and downsampled, as
real radiographs are: a body, two lung fields, ribs, a vertical exposure gradient, with per-image position,
size, brightness and contrast. Graded images show an opacity in the lungs whose intensity and mid-frequency
texture grow with the grade (neighbouring grades overlap); unknown images are not gradeable: over- or
under-exposed, with strong directional artefact stripes. Classes are balanced.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from hpoctl.trainers.common.cache import Arrays, file_fingerprint
from hpoctl.trainers.common.datafiles import read_npz, seeded_split
from hpoctl.trainers.common.errors import DataError
from hpoctl.trainers.csi.config import CLASSES, UNKNOWN

DATA_FILE = "csi.npz"
TRAIN, VAL = 0, 1
SUPERSAMPLE = 2
CHUNK = 256
DATA_VERSION = 1
"""Part of every cache key: bump when the generator or the preparation changes its output."""


def _band_noise(rng: np.random.Generator, count: int, size: int, frequency: float, angle: float | None) -> np.ndarray:
    """Unit-variance noise with its spectrum on a ring of ``frequency`` cycles per image (``angle``: only along
    that direction, giving stripes)."""
    white = rng.normal(size=(count, size, size)).astype(np.float32)
    fy, fx = np.meshgrid(np.fft.fftfreq(size) * size, np.fft.rfftfreq(size) * size, indexing="ij")
    radius = np.hypot(fx, fy)
    gain = np.exp(-0.5 * ((radius - frequency) / (0.25 * frequency)) ** 2)
    if angle is not None:
        direction = np.abs(np.cos(np.arctan2(fy, fx) - angle))
        gain *= direction**8
    noise = np.fft.irfft2(np.fft.rfft2(white) * gain.astype(np.float32), s=(size, size))
    return noise / noise.std(axis=(1, 2), keepdims=True)


def _soft_ellipse(x: np.ndarray, y: np.ndarray, cx, cy, rx, ry, edge: float = 0.04) -> np.ndarray:
    distance = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    return 1 / (1 + np.exp((distance - 1) / edge))


def _render(rng: np.random.Generator, labels: np.ndarray, size: int) -> np.ndarray:
    """Grey-level images in [0, 1] rendered at ``size * SUPERSAMPLE``, then averaged down to ``size``."""
    n, big = len(labels), size * SUPERSAMPLE
    axis = np.linspace(-1, 1, big)
    y, x = np.meshgrid(axis, axis, indexing="ij")
    shape = (n, 1, 1)
    cx, cy = rng.normal(0, 0.05, shape), rng.normal(0, 0.05, shape)
    scale = rng.uniform(0.9, 1.1, shape)
    body = _soft_ellipse(x, y, cx, cy + 0.1, 0.85 * scale, 1.0 * scale, 0.08)
    lungs = sum(
        _soft_ellipse(x, y, cx + side * 0.36 * scale, cy - 0.05, 0.27 * scale, 0.52 * scale) for side in (-1, 1)
    )
    ribs = 0.5 + 0.5 * np.sin((y - cy) * 9 * np.pi / scale)
    image = 0.15 + 0.5 * body - 0.3 * lungs * body + 0.06 * lungs * ribs + 0.08 * y
    graded = labels != UNKNOWN
    grade = np.where(graded, labels, rng.integers(0, 4, n)).reshape(shape)
    opacity = np.clip(0.1 * grade + rng.normal(0, 0.045, shape), 0.0, None)
    texture = _band_noise(rng, n, big, frequency=10.0, angle=None)
    image = image + lungs * (opacity + (0.02 + 0.035 * grade) * texture)
    stripes = _band_noise(rng, n, big, frequency=14.0, angle=float(rng.uniform(0, np.pi)))
    exposure = rng.choice([-0.25, 0.3], size=shape) + rng.normal(0, 0.05, shape)
    unknown = ~graded.reshape(shape)
    image = np.where(unknown, image + exposure + 0.09 * stripes, image)
    contrast, brightness = rng.uniform(0.8, 1.2, shape), rng.normal(0, 0.06, shape)
    image = 0.5 + (image - 0.5) * contrast + brightness
    small = image.reshape(n, size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(2, 4))
    return np.clip(small + rng.normal(0, 0.02, small.shape), 0.0, 1.0)


def synthesize(n_images: int, image_size: int, data_seed: int) -> Arrays:
    """Raw synthetic images (uint8 ``images`` [N, S, S], ``labels`` [N], ``split`` [N]), deterministic in its
    arguments; balanced classes, a seeded 80/20 split."""
    rng = np.random.default_rng([data_seed, 0xC51])
    labels = rng.permutation(np.arange(n_images) % len(CLASSES))
    images = np.concatenate(
        [_render(rng, labels[start : start + CHUNK], image_size) for start in range(0, n_images, CHUNK)]
    )
    split = np.where(rng.permutation(n_images) < int(0.8 * n_images), TRAIN, VAL).astype(np.int8)
    return {"images": np.round(images * 255).astype(np.uint8), "labels": labels, "split": split}


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _images_in(folder: Path, recursive: bool = False) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _read_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L").resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as e:
        raise DataError(f"--data: cannot read image {path}: {e}") from None


def _class_folders(root: Path) -> dict[str, Path]:
    folders = {p.name: p for p in sorted(root.iterdir()) if p.is_dir()}
    unknown = sorted(set(folders) - set(CLASSES))
    if unknown:
        raise DataError(f"--data: {root} has folders {', '.join(unknown)}; class folders are {', '.join(CLASSES)}")
    return folders


def read_folder(root: Path, size: int) -> Arrays:
    """PNG and JPEG images by class folder (and ``train``/``val`` folders when the split is given)."""
    splits = {"train": TRAIN, "val": VAL} if (root / "train").is_dir() and (root / "val").is_dir() else {"": -1}
    images, labels, split = [], [], []
    for name, split_value in splits.items():
        for class_name, folder in _class_folders(root / name if name else root).items():
            for path in _images_in(folder):
                images.append(_read_image(path, size))
                labels.append(CLASSES.index(class_name))
                split.append(split_value)
    if not images:
        raise DataError(f"--data: no PNG or JPEG images in class folders ({', '.join(CLASSES)}) under {root}")
    raw: Arrays = {"images": np.stack(images), "labels": np.array(labels)}
    if splits != {"": -1}:
        raw["split"] = np.array(split, dtype=np.int8)
    return raw


def folder_fingerprint(root: Path) -> dict[str, Any]:
    """Identity of an image folder for the cache key: its path and its files' names, sizes and times."""
    files = _images_in(root, recursive=True)
    listing = "\n".join(f"{p.relative_to(root)} {p.stat().st_size} {p.stat().st_mtime_ns}" for p in files)
    return {"path": str(root.resolve()), "files": len(files), "listing": hashlib.sha256(listing.encode()).hexdigest()}


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[1:] == (size, size):
        return images
    from PIL import Image

    scaled = images.astype(np.float32)
    return np.stack([np.asarray(Image.fromarray(i).resize((size, size), Image.Resampling.BILINEAR)) for i in scaled])


def prepare(raw: Arrays, image_size: int, data_seed: int) -> Arrays:
    """Grey levels in [0, 1] at ``image_size``, standardised with training statistics; labels as class indices."""
    images, labels = raw.get("images"), raw.get("labels")
    if images is not None and images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images is None or labels is None or images.ndim != 3 or labels.shape != (len(images),):
        raise DataError("--data: need images [N, H, W] and labels [N] of the same length")
    if labels.dtype.kind in "US":
        bad = sorted(set(labels.astype(str)) - set(CLASSES))
        if bad:
            raise DataError(f"--data: unknown class names {', '.join(bad)} (classes: {', '.join(CLASSES)})")
        labels = np.array([CLASSES.index(label) for label in labels.astype(str)])
    labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= len(CLASSES):
        raise DataError(f"--data: labels must be 0-3 (grades) or 4 (unknown), got {labels.min()}..{labels.max()}")
    values = images.astype(np.float32) / (255.0 if images.dtype == np.uint8 else 1.0)
    values = _resize(values, image_size)
    split = raw.get("split")
    if split is None:
        split = seeded_split(len(values), data_seed, 0.8)
    if split.shape != (len(values),) or not np.isin(split, [TRAIN, VAL]).all():
        raise DataError("--data: split must be [N] with 0 (train) and 1 (validation) only")
    if len(np.unique(labels[split == TRAIN])) < 2 or not (split == VAL).any():
        raise DataError("--data: need two classes or more in the training split and a non-empty validation split")
    train = values[split == TRAIN]
    mean, std = float(train.mean()), float(train.std()) or 1.0
    return {
        "images": ((values - mean) / std)[:, None].astype(np.float32),
        "labels": labels,
        "split": split.astype(np.int8),
    }


def load_prepared(trial: Any, data_path: Path | None, args: Any) -> Arrays:
    """Prepared arrays for a trial, from the cache when possible (``trial`` is a common Trial)."""
    if data_path is None:
        params = {"n_images": args.n_images, "image_size": args.image_size, "data_seed": args.data_seed}
        params["version"] = DATA_VERSION
        return trial.prepare_data(
            "synthetic",
            params,
            lambda: prepare(synthesize(args.n_images, args.image_size, args.data_seed), args.image_size, 0),
        )
    params = {"image_size": args.image_size, "data_seed": args.data_seed, "version": DATA_VERSION}
    if data_path.is_dir() and not (data_path / DATA_FILE).is_file():
        return trial.prepare_data(
            folder_fingerprint(data_path),
            params,
            lambda: prepare(read_folder(data_path, args.image_size), args.image_size, args.data_seed),
        )
    path = data_path / DATA_FILE if data_path.is_dir() else data_path
    if not path.is_file():
        raise DataError(f"--data: {data_path} does not exist")
    return trial.prepare_data(
        file_fingerprint(path), params, lambda: prepare(read_npz(path), args.image_size, args.data_seed)
    )


__all__ = ["DATA_FILE", "TRAIN", "VAL", "load_prepared", "prepare", "read_folder", "read_npz", "synthesize"]
