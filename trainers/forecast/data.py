"""Forecast data: the ``--data`` series format, deterministic synthetic series, the walk-forward split.

``--data`` format: a folder holding ``<dataset>.csv`` or ``<dataset>.parquet`` (``heat.csv``,
``water_centrum.parquet``, ...), or one such file. One row per hour:

- ``timestamp``: ISO 8601 date and hour (``2024-01-31 13:00``; an offset such as ``+01:00`` is converted to
  UTC). Rows may come in any order; missing hours are filled by linear interpolation (at most 20% of them),
  duplicates and times off the hour are data errors.
- ``value``: the series to forecast (heat load in MWh, water flow in m3/h, ...).
- optional covariates: every other column, numeric (e.g. ``temperature``, ``wind_speed``). They are used as
  known in advance over the forecast horizon, as a weather forecast would be.

Parquet needs ``pyarrow`` (or ``fastparquet``) installed. Preparation (cached): the value and the covariates are
standardised with the statistics of the training part, hour-of-day and day-of-week (sine, cosine) are added.

Split: the last ``validation_days`` days are the validation period, forecast walk-forward from
``walk_forward_steps`` origins evenly spaced over it (the first at its start, the last forecast ending at its
end), each forecast from the ``input_size`` hours before its origin (actuals, also those of the validation
period before it: the model is not retrained). Training windows end before the validation period starts. See
:func:`walk_forward_windows` and :func:`training_origins`.

Synthetic data (no ``--data``): an hourly series from 2023-01-02 with weather-like covariates (temperature with
yearly and daily cycles and multi-day weather swings, wind speed, solar irradiance), daily and weekly
seasonality, autocorrelated noise and outliers, distinct per dataset:

- ``heat``: district heating load driven by heating degrees (smoothed by the buildings' inertia) and wind, with
  morning and evening peaks, a later morning on weekends, meter glitches (drops towards 0) and spikes.
- ``water_centrum``: a town centre's water flow: a sharp morning and a broad evening peak on weekdays, a late
  morning on weekends, a little more use on hot days, bursts lasting a few hours.
- ``water_tommerby``: a small residential area: lower flow, an evening peak, noisier, more frequent spikes and
  zero readings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpoctl.trainers.common.cache import Arrays, file_fingerprint
from hpoctl.trainers.common.errors import DataError
from hpoctl.trainers.forecast.config import DATASETS

COVARIATES = ("temperature", "wind_speed", "irradiance")
"""Covariates of the synthetic series."""
CALENDAR = ("hour_sin", "hour_cos", "weekday_sin", "weekday_cos")
START = np.datetime64("2023-01-02T00", "h")
"""First hour of the synthetic series (a Monday)."""
SUFFIXES = (".csv", ".parquet")
MAX_MISSING = 0.2
DATA_VERSION = 1
"""Part of every cache key: bump when the generator or the preparation changes its output."""


@dataclass(frozen=True)
class Window:
    """One forecast: inputs are hours ``[input_start, origin)``, the forecast covers ``[origin, end)``."""

    input_start: int
    origin: int
    end: int


def walk_forward_windows(n: int, input_size: int, horizon: int, steps: int, period: int) -> list[Window]:
    """The validation windows of a series of ``n`` hours whose last ``period`` hours are the validation period:
    ``steps`` forecasts of ``horizon`` hours, in order and never overlapping, evenly spaced so that the first
    starts where the period starts and the last ends where it ends (they tile it when ``period`` is ``steps *
    horizon``); each sees only the ``input_size`` hours before its origin."""
    start = validation_start(n, period)
    if period < steps * horizon:
        raise ValueError(f"a validation period of {period} hours cannot hold {steps} forecasts of {horizon} hours")
    if start < input_size:
        raise ValueError(f"{n} hours hold no {input_size}-hour input before a validation period of {period} hours")
    origins = np.linspace(start, n - horizon, steps).round().astype(int) if steps > 1 else [start]
    return [Window(int(o) - input_size, int(o), int(o) + horizon) for o in origins]


def validation_start(n: int, period: int) -> int:
    """First hour of the validation period: the last ``period`` hours of ``n``."""
    return n - period


def training_origins(validation_begins: int, input_size: int, horizon: int) -> np.ndarray:
    """Every origin whose input fits after hour 0 and whose forecast ends before the validation period."""
    return np.arange(input_size, validation_begins - horizon + 1, dtype=np.int64)


def _calendar(timestamp_hours: np.ndarray) -> np.ndarray:
    hour = timestamp_hours % 24
    weekday = (timestamp_hours // 24 + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    angles = [2 * np.pi * hour / 24, 2 * np.pi * weekday / 7]
    return np.stack([f(a) for a in angles for f in (np.sin, np.cos)], axis=1)


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """A stationary AR(1) series with autocorrelation ``phi`` per hour and standard deviation ``sd``."""
    shocks = rng.normal(0.0, sd * np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def _bump(hour: np.ndarray, centre: np.ndarray | float, width: float) -> np.ndarray:
    """A daily peak: a Gaussian in the hour of day around ``centre``, wrapping at midnight."""
    distance = (hour - centre + 12) % 24 - 12
    return np.exp(-0.5 * (distance / width) ** 2)


def _weather(rng: np.random.Generator, doy: np.ndarray, hour: np.ndarray) -> np.ndarray:
    n = len(doy)
    season = -np.cos(2 * np.pi * (doy - 20) / 365.25)  # -1 mid-January, +1 mid-July
    temperature = 8.5 + 8.5 * season + (2.5 + 1.5 * season) * np.sin(2 * np.pi * (hour - 9) / 24)
    temperature += _ar1(rng, n, 0.985, 3.0) + rng.normal(0.0, 0.3, n)
    wind = np.clip(4.5 - 0.8 * season + _ar1(rng, n, 0.97, 2.2), 0.0, None)
    day_length = 12.0 + 5.0 * np.cos(2 * np.pi * (doy - 172) / 365.25)
    sun = np.clip(np.sin(np.pi * (hour - (12 - day_length / 2)) / day_length), 0.0, None)
    cloud = 1 / (1 + np.exp(-_ar1(rng, n, 0.95, 1.5)))
    irradiance = 800.0 * sun * (1 - 0.75 * cloud) * (0.55 + 0.45 * season)
    return np.stack([temperature, wind, irradiance], axis=1)


def _heat(rng: np.random.Generator, hour: np.ndarray, weekend: np.ndarray, weather: np.ndarray) -> np.ndarray:
    temperature, wind, irradiance = weather.T
    felt = np.empty_like(temperature)  # the buildings' inertia: an exponential average over about half a day
    felt[0] = temperature[0]
    for i in range(1, len(felt)):
        felt[i] = felt[i - 1] + (temperature[i] - felt[i - 1]) / 12
    degrees = np.clip(17.0 - felt, 0.0, None)
    morning = np.where(weekend, 9.0, 7.0)
    daily = 1 + 0.12 * _bump(hour, morning, 1.5) + 0.07 * _bump(hour, 19.0, 2.0) - 0.08 * _bump(hour, 3.0, 2.5)
    load = (1.1 + 0.22 * degrees * (1 + 0.025 * wind) - 4e-4 * irradiance) * daily * np.where(weekend, 0.95, 1.0)
    load *= np.exp(_ar1(rng, len(load), 0.9, 0.03))
    spikes = rng.random(len(load)) < 0.003
    load[spikes] *= rng.uniform(1.3, 1.8, int(spikes.sum()))
    glitches = rng.random(len(load)) < 0.002
    load[glitches] *= rng.uniform(0.05, 0.3, int(glitches.sum()))
    return load


def _bursts(rng: np.random.Generator, flow: np.ndarray, rate: float, hours: tuple[int, int]) -> np.ndarray:
    """Pipe bursts and similar: the flow rises by 40-100% for a few hours."""
    for start in np.flatnonzero(rng.random(len(flow)) < rate):
        flow[start : start + int(rng.integers(*hours))] *= rng.uniform(1.4, 2.0)
    return flow


def _water_centrum(rng: np.random.Generator, hour: np.ndarray, weekend: np.ndarray, weather: np.ndarray) -> np.ndarray:
    temperature = weather[:, 0]
    weekday_profile = 0.45 + 0.9 * _bump(hour, 7.5, 1.2) + 0.55 * _bump(hour, 19.0, 2.2) + 0.35 * _bump(hour, 12.5, 2.5)
    weekend_profile = 0.45 + 0.7 * _bump(hour, 9.5, 1.8) + 0.5 * _bump(hour, 19.0, 2.5) + 0.35 * _bump(hour, 13.0, 3.0)
    flow = 140.0 * np.where(weekend, weekend_profile, weekday_profile)
    flow *= (1 + 0.012 * np.clip(temperature - 16.0, 0.0, None)) * np.exp(_ar1(rng, len(flow), 0.8, 0.05))
    return _bursts(rng, flow, 0.004, (1, 7))


def _water_tommerby(rng: np.random.Generator, hour: np.ndarray, weekend: np.ndarray, weather: np.ndarray) -> np.ndarray:
    temperature = weather[:, 0]
    shift = np.where(weekend, 1.5, 0.0)
    profile = 0.35 + 0.5 * _bump(hour, 7.0 + shift, 1.5) + 0.85 * _bump(hour, 20.0 + shift / 2, 2.0)
    flow = 38.0 * profile * (1 + 0.02 * np.clip(temperature - 15.0, 0.0, None))
    flow = flow * np.exp(_ar1(rng, len(flow), 0.6, 0.10)) + rng.normal(0.0, 1.5, len(flow))
    spikes = rng.random(len(flow)) < 0.008
    flow[spikes] *= rng.uniform(1.5, 2.5, int(spikes.sum()))
    flow[rng.random(len(flow)) < 0.003] = 0.0
    return flow


_GENERATORS = {"heat": _heat, "water_centrum": _water_centrum, "water_tommerby": _water_tommerby}


def synthesize(dataset: str, n_days: int, data_seed: int) -> Arrays:
    """Raw synthetic series (``timestamp`` in hours since 1970, ``value``, ``covariates``), deterministic in its
    arguments and different for every dataset."""
    rng = np.random.default_rng([data_seed, DATASETS.index(dataset), 0xF0C])
    timestamps = START + np.arange(24 * n_days)
    hours = timestamps.astype(np.int64)
    hour = (hours % 24).astype(np.float64)
    doy = (timestamps - timestamps.astype("datetime64[Y]")).astype("timedelta64[D]").astype(np.float64)
    weekend = (hours // 24 + 3) % 7 >= 5
    weather = _weather(rng, doy, hour)
    value = np.clip(_GENERATORS[dataset](rng, hour, weekend, weather), 0.0, None)
    return {"timestamp": hours, "value": value, "covariates": weather, "covariate_names": np.array(COVARIATES)}


def data_file(data: Path, dataset: str) -> Path:
    """The file ``--data`` names: itself, or ``<dataset>.csv`` / ``<dataset>.parquet`` in the folder."""
    if data.is_dir():
        for suffix in SUFFIXES:
            if (data / f"{dataset}{suffix}").is_file():
                return data / f"{dataset}{suffix}"
        raise DataError(f"--data: {data} holds neither {dataset}.csv nor {dataset}.parquet")
    if not data.is_file():
        raise DataError(f"--data: {data} does not exist")
    if data.suffix not in SUFFIXES:
        raise DataError(f"--data: {data} is neither .csv nor .parquet")
    return data


def read_series(path: Path) -> Arrays:
    """Read a CSV or Parquet series into ``timestamp`` (hours since 1970, every hour), ``value``, ``covariates``."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except ImportError as e:
        raise DataError(f"--data: reading {path.name} needs pyarrow or fastparquet ({e}); or give a CSV") from None
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise DataError(f"--data: cannot read {path}: {' '.join(str(e).split())}") from None
    missing = [c for c in ("timestamp", "value") if c not in frame.columns]
    if missing:
        raise DataError(f"--data: {path} has no column {', '.join(missing)} (columns: {', '.join(map(str, frame))})")
    try:
        stamps = pd.to_datetime(frame["timestamp"], utc=True)
    except (ValueError, TypeError) as e:
        raise DataError(f"--data: {path}: unreadable timestamp ({' '.join(str(e).split())})") from None
    columns = [c for c in frame.columns if c != "timestamp"]
    numeric = {}
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().sum() > frame[column].isna().sum():
            raise DataError(f"--data: {path}: column {column!r} holds a non-numeric value")
        numeric[column] = values.to_numpy(dtype=np.float64)
    hours = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(hours=1)
    if (hours % 1 != 0).any():
        raise DataError(f"--data: {path}: every timestamp must be on the hour")
    order = np.argsort(hours.to_numpy(), kind="stable")
    hours = hours.to_numpy()[order].astype(np.int64)
    repeated = hours[1:][np.diff(hours) == 0]
    if len(repeated):
        raise DataError(f"--data: {path}: duplicate timestamp {pd.Timestamp(int(repeated[0]) * 3600, unit='s')}")
    grid = np.arange(hours[0], hours[-1] + 1)
    if 1 - len(hours) / len(grid) > MAX_MISSING:
        raise DataError(f"--data: {path}: {len(grid) - len(hours)} of {len(grid)} hours are missing (at most 20%)")
    filled = {}
    for column, values in numeric.items():
        known = np.isfinite(values[order])
        if not known.any():
            raise DataError(f"--data: {path}: column {column!r} has no value")
        filled[column] = np.interp(grid, hours[known], values[order][known])
    names = [c for c in columns if c != "value"]
    covariates = np.stack([filled[c] for c in names], axis=1) if names else np.zeros((len(grid), 0))
    return {"timestamp": grid, "value": filled["value"], "covariates": covariates, "covariate_names": np.array(names)}


def prepare(raw: Arrays, validation_begins: int, input_size: int, horizon: int) -> Arrays:
    """Standardise with the training part's statistics and add calendar features: the arrays the cache stores.

    ``inputs`` [T, 1 + C + 4] holds the standardised value, the covariates and the calendar; ``value`` the raw
    series (metrics are in its unit); ``scale`` the value's training mean and standard deviation.
    """
    value, covariates = np.asarray(raw["value"], dtype=np.float64), np.asarray(raw["covariates"], dtype=np.float64)
    n = len(value)
    if len(training_origins(validation_begins, input_size, horizon)) < 1:
        raise DataError(
            f"a series of {n} hours is too short for {input_size}-hour inputs, {horizon}-hour forecasts and a "
            f"validation period of {n - validation_begins} hours (fewer --validation-days or a longer series)"
        )
    train = slice(0, validation_begins)
    mean, std = value[train].mean(), value[train].std()
    cov_mean, cov_std = covariates[train].mean(axis=0), covariates[train].std(axis=0)
    std = std if std > 0 else 1.0
    cov_std[~(cov_std > 0)] = 1.0
    inputs = np.hstack(
        [((value - mean) / std)[:, None], (covariates - cov_mean) / cov_std, _calendar(np.asarray(raw["timestamp"]))]
    )
    names = ["value", *np.asarray(raw["covariate_names"]).astype(str), *CALENDAR]
    return {
        "inputs": inputs.astype(np.float32),
        "value": value.astype(np.float32),
        "scale": np.array([mean, std]),
        "timestamp": np.asarray(raw["timestamp"], dtype=np.int64),
        "columns": np.array(names),
    }


def load_prepared(trial: Any, data_path: Path | None, args: Any) -> Arrays:
    """Prepared arrays for a trial, from the cache when possible (``trial`` is a common Trial)."""
    split = {"validation_days": args.validation_days, "horizon": args.horizon, "input_size": args.input_size}

    def prepared(raw: Arrays) -> Arrays:
        begins = validation_start(len(raw["value"]), 24 * args.validation_days)
        return prepare(raw, begins, args.input_size, args.horizon)

    if data_path is None:
        params = {"dataset": args.dataset, "n_days": args.n_days, "data_seed": args.data_seed, **split}
        params["version"] = DATA_VERSION
        return trial.prepare_data(
            "synthetic", params, lambda: prepared(synthesize(args.dataset, args.n_days, args.data_seed))
        )
    path = data_file(data_path, args.dataset)
    params = {**split, "version": DATA_VERSION}
    return trial.prepare_data(file_fingerprint(path), params, lambda: prepared(read_series(path)))


__all__ = [
    "CALENDAR",
    "COVARIATES",
    "Window",
    "data_file",
    "load_prepared",
    "prepare",
    "read_series",
    "synthesize",
    "training_origins",
    "validation_start",
    "walk_forward_windows",
]
