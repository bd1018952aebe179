"""EVEREST data: a deterministic SHARP-like synthetic generator, the ``--data`` file formats, preprocessing.

``--data`` formats: SHARP keywords as CSV, one row per active region and time (``DIR/everest.csv`` or the
``.csv`` file itself; see :mod:`hpoctl.trainers.everest.sharp_csv` for its columns), or ``DIR/everest.npz`` (or
the ``.npz`` file itself) with

- ``X``: float [N, T, F], the magnetic parameters of the T hours before each prediction time (SHARP keywords
  such as USFLUX, TOTUSJH, R_VALUE; give heavy-tailed extensive quantities as log10). NaN marks a data gap.
- ``split``: int [N], 0 train, 1 validation, 2 test (split by active region to avoid leakage).
- labels, per target, either ``y_<class>_<window>h`` (0/1 [N], e.g. ``y_M_24h``) or, for all classes of a
  window at once, ``max_class_<window>h`` (int [N]: largest flare within the window, 0 none/below C, 1 C,
  2 M, 3 X; target ``M_24h`` is ``max_class_24h >= 2``).
- optional ``feature_names``: str [F].

Preparation (cached): keep the last ``--seq-len`` steps and the first ``--n-features`` parameters, standardise
each parameter with the training split's mean and standard deviation, fill gaps with the training mean (0),
store float32. The train and validation splits must each hold positives and negatives of the target.

Synthetic data (no ``--data``): active regions evolve at SHARP's 12-minute cadence and are averaged to hourly
values, with 1% of the hours missing. Each region has a size, a magnetic complexity, a viewing geometry that
changes as the Sun rotates (foreshortening) and a flux-emergence episode; free magnetic energy builds up
while flux emerges and sets the flare rate and the flare sizes (Poisson in time, exponential in log peak
flux), so X events are rarer than M, M rarer than C, and longer windows hold more positives. Size and
geometry dominate the variance of the parameters but say little about flares; the learnable signal is the
free energy and, above all, a precursor of a few hours in the non-potential parameters (current helicity,
shear) 1-16 hours before each flare, stronger before bigger flares. ``--signal-strength`` scales how much
of the energy and the precursors the parameters show (0.5: harder, 2: easier).
Prediction times step every 6 hours; samples are split 70/15/15 by region, stratified by the region's
largest flare so that every split sees the rare classes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpoctl.trainers.common.cache import Arrays, file_fingerprint
from hpoctl.trainers.common.datafiles import read_npz
from hpoctl.trainers.common.errors import DataError
from hpoctl.trainers.everest.config import FLARE_CLASSES, SYNTHETIC_DEFAULTS, TARGETS, WINDOWS

FEATURES = (
    "USFLUX", "TOTUSJZ", "TOTUSJH", "ABSNJZH", "SAVNCPP", "TOTPOT", "R_VALUE", "AREA_ACR",
    "MEANPOT", "MEANSHR", "SHRGT45", "MEANGAM", "MEANJZH", "MEANALP", "MEANGBZ", "MEANJZD",
)  # fmt: skip
"""SHARP keywords the synthetic generator imitates, the most flare-relevant first."""
DATA_FILE = "everest.npz"
SPLITS = {"train": 0, "val": 1, "test": 2}
DATA_VERSION = 2
"""Part of every cache key: bump when the generator or the preparation changes its output."""
STEPS_PER_HOUR = 5  # SHARP cadence: 12 minutes
STRIDE_HOURS = 6
HORIZON_HOURS = max(WINDOWS)

# Loadings of each parameter on the latent state of its region: size (log flux), viewing geometry (log
# of the cosine of the heliocentric angle: foreshortening), flux emergence, free magnetic energy,
# complexity, and flare precursors. Size and geometry dominate the variance of the extensive parameters
# but say little about flares. Free energy drives the flare rate and shows weakly in the non-potential
# parameters; a precursor (a few hours of enhanced current helicity and shear, 1-16 hours before a flare
# of class C or above, stronger before bigger flares) is the sharp signal a sequence model can learn.
_LOADINGS = np.array(
    [
        # size  geom  emerg energy cmplx precursor
        [1.0,  1.0,  0.5,  0.05, 0.0,  0.0],  # USFLUX
        [0.9,  0.9,  0.4,  0.15, 0.0,  0.4],  # TOTUSJZ
        [0.6,  0.8,  0.2,  0.35, 0.1,  1.0],  # TOTUSJH
        [0.4,  0.7,  0.1,  0.4,  0.2,  1.0],  # ABSNJZH
        [0.5,  0.7,  0.1,  0.4,  0.2,  0.9],  # SAVNCPP
        [0.6,  0.8,  0.1,  0.35, 0.1,  0.3],  # TOTPOT
        [0.5,  0.6,  0.3,  0.3,  0.3,  0.6],  # R_VALUE
        [0.9,  1.0,  0.4,  0.0,  0.0,  0.0],  # AREA_ACR
        [0.0,  0.3,  0.0,  0.25, 0.3,  0.5],  # MEANPOT
        [0.0, -0.3,  0.0,  0.25, 0.4,  0.8],  # MEANSHR
        [0.0, -0.3,  0.0,  0.25, 0.4,  0.8],  # SHRGT45
        [0.0, -0.7,  0.0,  0.05, 0.3,  0.2],  # MEANGAM
        [0.0,  0.2,  0.0,  0.15, 0.2,  0.7],  # MEANJZH
        [0.0,  0.2,  0.0,  0.1,  0.3,  0.5],  # MEANALP
        [0.3,  0.8,  0.2,  0.0,  0.0,  0.0],  # MEANGBZ
        [0.0,  0.2,  0.0,  0.1,  0.2,  0.3],  # MEANJZD
    ]
)  # fmt: skip
_CENTRES = np.array([22.0, 12.8, 3.0, 1.5, 12.5, 23.0, 3.5, 2.3, 5e3, 40.0, 30.0, 25.0, 0.01, 0.02, 300.0, 0.3])
_SCALES = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.6, 1.0, 0.4, 2e3, 8.0, 12.0, 6.0, 0.005, 0.01, 100.0, 0.1])
_ROTATION_DEG_PER_HOUR = 13.2 / 24
_ENERGY_LAG_HOURS = 6.0
_ENERGY = (0.4, 3.0, 0.35)  # complexity, emergence-rate drive, random wander
_FLARE_RATE = (0.0035, 2.3, 0.3)  # per hour: base * exp(a * energy + b * size)
_FLARE_SIZE = (0.27, 0.35)  # mean of log10(peak flux / 1e-6): c * exp(d * energy)
_PRECURSOR = (1.0, 16.0, 1.5, 0.5)  # lead time range (h), duration (h, sd), amplitude at C1.0
_NOISE = 0.4


def flare_class_index(peak_flux: np.ndarray) -> np.ndarray:
    """0 below C, 1 C, 2 M, 3 X for GOES 1-8 A peak fluxes in W/m^2."""
    return np.searchsorted(np.array([1e-6, 1e-5, 1e-4]), peak_flux, side="right").astype(np.int8)


def _simulate_region(rng: np.random.Generator, seq_len: int, signal_strength: float) -> tuple[np.ndarray, ...]:
    """One active region: hourly parameters [H, 16] and the hourly largest flare class [H]."""
    hours = int(rng.integers(seq_len + HORIZON_HOURS + 6, seq_len + HORIZON_HOURS + 90))
    steps = hours * STEPS_PER_HOUR
    t = np.arange(steps) / STEPS_PER_HOUR
    size = rng.normal(0.0, 0.6)
    complexity = rng.normal(0.0, 1.0)
    longitude = rng.uniform(-80.0, 40.0) + _ROTATION_DEG_PER_HOUR * t
    geometry = np.log(np.clip(np.cos(np.radians(longitude)), 0.15, None))
    peak, width = rng.uniform(-0.2, 1.2) * hours, rng.uniform(18.0, 90.0)
    amplitude = rng.lognormal(0.0, 0.5)
    emergence = amplitude * np.exp(-0.5 * ((t - peak) / width) ** 2)
    # Free energy builds up while flux emerges: driven by the emergence rate (per day) some hours earlier.
    lag = int(_ENERGY_LAG_HOURS * STEPS_PER_HOUR)
    rise = np.clip(np.gradient(emergence, t), 0.0, None) * 24.0
    driven = np.r_[np.zeros(lag), rise[:-lag]]
    rho = np.exp(-1.0 / (24 * STEPS_PER_HOUR))  # one-day memory
    shocks = rng.normal(0.0, _ENERGY[2] * np.sqrt(1 - rho**2), steps)
    wander = np.empty(steps)
    wander[0] = rng.normal(0.0, _ENERGY[2])
    for i in range(1, steps):
        wander[i] = rho * wander[i - 1] + shocks[i]
    energy = _ENERGY[0] * complexity + _ENERGY[1] * driven + wander

    # Flares: Poisson in each 12-minute step, peak flux log10 = -6 + Exp(mean growing with energy).
    exponent = np.minimum(_FLARE_RATE[1] * energy + _FLARE_RATE[2] * size, 8.0)
    counts = rng.poisson(_FLARE_RATE[0] * np.exp(exponent) / STEPS_PER_HOUR)
    step_of_flare = np.repeat(np.arange(steps), counts)
    mean_log_excess = _FLARE_SIZE[0] * np.exp(_FLARE_SIZE[1] * energy[step_of_flare])
    log_excess = rng.exponential(mean_log_excess)
    flux = 10.0 ** (-6.0 + log_excess)
    hourly_class = np.zeros(hours, dtype=np.int8)
    np.maximum.at(hourly_class, step_of_flare // STEPS_PER_HOUR, flare_class_index(flux))
    precursor = _precursors(rng, steps, step_of_flare, log_excess)

    # --signal-strength scales what the parameters show of the flare-relevant state (energy, precursors).
    latent = np.stack(
        [
            np.full(steps, size),
            geometry,
            emergence,
            signal_strength * energy,
            np.full(steps, complexity),
            signal_strength * precursor,
        ],
        axis=1,
    )
    noise = rng.normal(0.0, 1.0, (steps, len(FEATURES)))
    noise[1:] = 0.6 * noise[1:] + 0.8 * noise[:-1]  # correlated measurement noise
    z = latent @ _LOADINGS.T + _NOISE * noise
    params = _CENTRES + _SCALES * z
    hourly = params.reshape(hours, STEPS_PER_HOUR, -1).mean(axis=1)
    hourly[rng.random(hours) < 0.01] = np.nan  # data gaps
    return hourly, hourly_class


def _precursors(rng: np.random.Generator, steps: int, step_of_flare: np.ndarray, log_excess: np.ndarray) -> np.ndarray:
    """Sum of Gaussian pulses, one before each flare (all simulated flares are C or above), bigger before
    bigger flares."""
    lead = rng.uniform(_PRECURSOR[0], _PRECURSOR[1], len(step_of_flare)) * STEPS_PER_HOUR
    centre = step_of_flare - lead.astype(int)
    keep = centre >= 0
    impulses = np.zeros(steps)
    np.add.at(impulses, centre[keep], _PRECURSOR[3] * (1.0 + 0.6 * log_excess[keep]))
    sd = _PRECURSOR[2] * STEPS_PER_HOUR
    offsets = np.arange(-int(4 * sd), int(4 * sd) + 1)
    return np.convolve(impulses, np.exp(-0.5 * (offsets / sd) ** 2), mode="same")


def _future_max(hourly_class: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(hourly_class, window)
    return windows.max(axis=1)[starts]


def _stratified_region_split(rng: np.random.Generator, region_class: np.ndarray) -> np.ndarray:
    """70/15/15 split of regions within each stratum (largest flare class), each split seeing rare strata."""
    split = np.zeros(len(region_class), dtype=np.int8)
    for stratum in np.unique(region_class):
        members = rng.permutation(np.flatnonzero(region_class == stratum))
        n = len(members)
        n_val = max(round(0.15 * n), 1 if n >= 2 else 0)
        n_test = max(round(0.15 * n), 1 if n >= 3 else 0)
        split[members[:n_val]] = SPLITS["val"]
        split[members[n_val : n_val + n_test]] = SPLITS["test"]
    return split


def synthesize(n_samples: int, seq_len: int, n_features: int, data_seed: int, signal_strength: float) -> Arrays:
    """Raw synthetic data in the ``--data`` format (before preparation), deterministic in its arguments."""
    rng = np.random.default_rng([data_seed, 0xE7E5])
    xs, labels, regions = [], {w: [] for w in WINDOWS}, []
    region_class = []
    total = 0
    while total < n_samples:
        hourly, hourly_class = _simulate_region(rng, seq_len, signal_strength)
        starts = np.arange(seq_len, len(hourly) - HORIZON_HOURS + 1, STRIDE_HOURS)
        xs.append(hourly[starts[:, None] + np.arange(-seq_len, 0)][:, :, :n_features])
        for w in WINDOWS:
            labels[w].append(_future_max(hourly_class, starts, w))
        regions.append(np.full(len(starts), len(region_class), dtype=np.int32))
        region_class.append(int(labels[WINDOWS[0]][-1].max(initial=0)))
        total += len(starts)
    split_of_region = _stratified_region_split(rng, np.array(region_class))
    region = np.concatenate(regions)[:n_samples]
    raw: Arrays = {
        "X": np.concatenate(xs)[:n_samples].astype(np.float32),
        "split": split_of_region[region],
        "region": region,
        "feature_names": np.array(FEATURES[:n_features]),
    }
    for w in WINDOWS:
        raw[f"max_class_{w}h"] = np.concatenate(labels[w])[:n_samples]
    return raw


def synthetic_sharp_table(n_regions: int, data_seed: int = 0, signal_strength: float = 1.0, seq_len: int = 12):
    """The synthetic regions as the SHARP CSV format's rows (a pandas DataFrame): one row per region and hour,
    the keywords, and the largest flare class in each window after the hour (for examples and tests)."""
    import pandas as pd

    rng = np.random.default_rng([data_seed, 0xC5F])
    letters = np.array(["", "C", "M", "X"])
    frames = []
    for region in range(n_regions):
        hourly, hourly_class = _simulate_region(rng, seq_len, signal_strength)
        hours = np.arange(len(hourly) - HORIZON_HOURS)
        hours = hours[~np.isnan(hourly[hours]).all(axis=1)]  # a gap in the CSV is a missing row
        frame = pd.DataFrame(hourly[hours], columns=list(FEATURES))
        frame.insert(
            0,
            "T_REC",
            (pd.Timestamp("2014-01-01") + pd.to_timedelta(region * 300 + hours, "h")).strftime("%Y.%m.%d_%H:%M:%S_TAI"),
        )
        frame.insert(0, "HARPNUM", 3000 + region)
        for w in WINDOWS:
            frame[f"max_class_{w}h"] = letters[_future_max(hourly_class, hours + 1, w)]
        frames.append(frame)
    largest = np.array([FLARE_CLASSES.index(c) + 1 if c else 0 for c in (f["max_class_72h"].max() for f in frames)])
    names = np.array(["train", "val", "test"])
    for frame, split in zip(frames, _stratified_region_split(rng, largest), strict=True):
        frame["split"] = names[split]
    return pd.concat(frames, ignore_index=True)


DATA_FILES = ("everest.csv", DATA_FILE)


def data_file(data: Path) -> Path:
    """``--data DIR`` means ``DIR/everest.csv`` or ``DIR/everest.npz``; a file is taken as is."""
    if data.is_dir():
        found = [data / name for name in DATA_FILES if (data / name).is_file()]
        if not found:
            raise DataError(f"--data: {data} holds neither {' nor '.join(DATA_FILES)} (see `--help`)")
        return found[0]
    if not data.is_file():
        raise DataError(f"--data: {data} does not exist")
    if data.suffix.lower() not in (".csv", ".npz"):
        raise DataError(f"--data: {data} is neither SHARP CSV (.csv) nor arrays (.npz); see `--help` for both")
    return data


def read_raw(path: Path, seq_len: int | None, data_seed: int) -> tuple[Arrays, list[str]]:
    """The NPZ format's arrays from either file format, and the problems a CSV showed on the way."""
    if path.suffix.lower() == ".csv":
        from hpoctl.trainers.everest.sharp_csv import DEFAULT_SEQ_LEN, read_sharp_csv

        return read_sharp_csv(path, seq_len or DEFAULT_SEQ_LEN, data_seed)
    return read_npz(path, report_missing=True), []


def target_labels(raw: Arrays, n: int) -> dict[str, np.ndarray]:
    """``y_<target>`` 0/1 arrays for every target the raw labels allow."""
    labels = {}
    for target in TARGETS:
        flare_class, window = target[0], int(target[2:-1])
        explicit, by_class = raw.get(f"y_{target}"), raw.get(f"max_class_{window}h")
        if explicit is not None:
            y = np.asarray(explicit)
        elif by_class is not None:
            y = np.asarray(by_class) >= FLARE_CLASSES.index(flare_class) + 1
        else:
            continue
        if y.shape != (n,):
            raise DataError(f"--data: labels for {target} have shape {y.shape}, expected ({n},)")
        labels[f"y_{target}"] = y.astype(np.uint8)
    if not labels:
        raise DataError("--data: no labels (need y_<class>_<window>h or max_class_<window>h arrays)")
    return labels


def prepare(raw: Arrays, seq_len: int | None, n_features: int | None) -> Arrays:
    """Crop, standardise with training statistics and fill gaps: the arrays the cache stores."""
    x = raw.get("X")
    if x is None or x.ndim != 3 or not np.issubdtype(x.dtype, np.number):
        raise DataError(f"--data: X must be a numeric [N, T, F] array, got {None if x is None else x.shape}")
    n, steps, features = x.shape
    if seq_len is not None and seq_len > steps:
        raise DataError(f"--seq-len {seq_len} exceeds the data's {steps} time steps")
    if n_features is not None and n_features > features:
        raise DataError(f"--n-features {n_features} exceeds the data's {features} parameters")
    x = x[:, steps - (seq_len or steps) :, : n_features or features].astype(np.float64)
    split = np.asarray(raw.get("split", np.zeros(0)))
    if split.shape != (n,) or not np.isin(split, list(SPLITS.values())).all():
        raise DataError(f"--data: split must be [N] with values 0 train, 1 val, 2 test (N={n})")
    train = x[split == SPLITS["train"]]
    if len(train) == 0 or (split == SPLITS["val"]).sum() == 0:
        raise DataError("--data: the train and validation splits must both be non-empty")
    mean = np.nanmean(train, axis=(0, 1))
    std = np.nanstd(train, axis=(0, 1))
    if not np.isfinite(mean).all():
        raise DataError("--data: a parameter has no finite value in the training split")
    std[~(std > 0)] = 1.0
    x = np.nan_to_num((x - mean) / std, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    names = raw.get("feature_names", np.array([f"f{i}" for i in range(features)]))
    prepared: Arrays = {
        "X": x,
        "split": split.astype(np.int8),
        "feature_names": np.asarray(names).astype(str)[: x.shape[2]],
    }
    prepared.update(target_labels(raw, n))
    return prepared


def load_prepared(trial: Any, data_path: Path | None, args: Any) -> Arrays:
    """Prepared arrays for a trial, from the cache when possible (``trial`` is a common Trial)."""
    if data_path is None:
        seq_len = args.seq_len or SYNTHETIC_DEFAULTS["seq_len"]
        n_features = args.n_features or SYNTHETIC_DEFAULTS["n_features"]
        params = {
            "n_samples": args.n_samples,
            "seq_len": seq_len,
            "n_features": n_features,
            "data_seed": args.data_seed,
            "signal_strength": args.signal_strength,
            "version": DATA_VERSION,
        }
        return trial.prepare_data(
            "synthetic",
            params,
            lambda: prepare(
                synthesize(args.n_samples, seq_len, n_features, args.data_seed, args.signal_strength), None, None
            ),
        )
    path = data_file(data_path)
    params = {"seq_len": args.seq_len, "n_features": args.n_features, "version": DATA_VERSION}
    if path.suffix.lower() == ".csv":
        params["data_seed"] = args.data_seed  # the CSV's region split, when it has no split column
    return trial.prepare_data(file_fingerprint(path), params, lambda: _prepare_file(path, args))


def _prepare_file(path: Path, args: Any) -> Arrays:
    raw, problems = read_raw(path, args.seq_len, args.data_seed)
    if problems:
        more = f" ({len(problems) - 1} more problems: `hpoctl data check` lists them all)" if len(problems) > 1 else ""
        raise DataError(f"--data: {path}: {problems[0]}{more}")
    return prepare(raw, args.seq_len, args.n_features)


def target_split(arrays: Arrays, target: str) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_val, y_val) for a target; both splits need positives and negatives."""
    key = f"y_{target}"
    if key not in arrays:
        raise DataError(f"--data has no labels for target {target} (need {key} or max_class_{target[2:]})")
    x, y, split = arrays["X"], arrays[key], arrays["split"]
    parts = []
    for name in ("train", "val"):
        mask = split == SPLITS[name]
        positives = int(y[mask].sum())
        if positives == 0 or positives == mask.sum():
            raise DataError(
                f"the {name} split has {positives} positive(s) of {target} among {int(mask.sum())} samples; "
                "TSS needs both classes (more data: --n-samples, or another target)"
            )
        parts += [x[mask], y[mask].astype(np.float32)]
    return tuple(parts)


__all__ = [
    "DATA_FILE",
    "FEATURES",
    "load_prepared",
    "prepare",
    "read_raw",
    "synthesize",
    "synthetic_sharp_table",
    "target_split",
]
