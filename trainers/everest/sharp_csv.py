"""SHARP parameter sequences as CSV, the form a team exporting SHARP keywords from JSOC already has: one row per
active region and time, one column per keyword. They become the arrays of the NPZ format (``X`` [N, T, F],
``split``, labels) so that preparation, the cache and the checks are the same for both.

Columns:

- ``HARPNUM``: the active region (any integer or text); samples are split by region, never within one.
- ``T_REC``: the time of the row, as SHARP writes it (``2014.01.31_12:00:00_TAI``) or ISO 8601.
- label columns, per target: ``max_class_<window>h`` (the largest flare in the window after ``T_REC``: ``C``,
  ``M``, ``X``, or empty / ``N`` / ``A`` / ``B`` for none; a GOES class such as ``M1.2``; or 0-3) or
  ``y_<class>_<window>h`` (0/1).
- optional ``split``: ``train``, ``val`` or ``test`` (or 0, 1, 2), the same for every row of a region; without
  it regions are split 70/15/15 by a shuffle seeded by ``--data-seed``.
- every other column is a numeric keyword (USFLUX, TOTUSJH, R_VALUE, ...); an empty cell is a gap.

Each row with ``--seq-len`` rows of its region up to and including it (rows ordered by ``T_REC``) is one sample:
those rows are its sequence, its own labels its targets.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hpoctl.trainers.common.cache import Arrays
from hpoctl.trainers.common.errors import DataError

REGION, TIME, SPLIT = "HARPNUM", "T_REC", "split"
DEFAULT_SEQ_LEN = 12
_SPLIT_NAMES = {"train": 0, "val": 1, "validation": 1, "test": 2, "0": 0, "1": 1, "2": 2}
_LABEL = re.compile(r"^(max_class_\d+h|y_[CMX]_\d+h)$")
_CLASS_LETTERS = {"": 0, "N": 0, "A": 0, "B": 0, "C": 1, "M": 2, "X": 3}
_SPLIT_SHARES = (0.7, 0.15)


def read_sharp_csv(path: Path, seq_len: int | None, data_seed: int) -> tuple[Arrays, list[str]]:
    """The NPZ format's arrays from a SHARP CSV, and every problem found on the way (empty when it is usable)."""
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise DataError(f"--data: {path} does not exist") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"--data: cannot read {path} as CSV: {' '.join(str(e).split())}") from None
    table.columns = [str(c).strip() for c in table.columns]
    problems: list[str] = []
    missing = [c for c in (REGION, TIME) if c not in table.columns]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)} (one row per {REGION} and {TIME}; see --help)")
    labels = [c for c in table.columns if _LABEL.match(c)]
    if not labels:
        problems.append("no label column (max_class_<window>h such as max_class_24h, or y_<class>_<window>h)")
    features = [c for c in table.columns if c not in (REGION, TIME, SPLIT) and c not in labels]
    if not features:
        problems.append("no keyword columns (USFLUX, TOTUSJH, ...): every column other than the region, time, "
                        "split and labels is a keyword")  # fmt: skip
    if problems or table.empty:
        if table.empty:
            problems.append("no data rows")
        return {}, problems

    values = np.full((len(table), len(features)), np.nan)
    for j, name in enumerate(features):
        numbers = pd.to_numeric(table[name].replace("", np.nan), errors="coerce")
        bad = numbers.isna() & table[name].ne("") & ~table[name].str.lower().isin(("nan", "na"))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            problems.append(
                f"column {name} is not numeric: {int(bad.sum())} value(s) such as {table[name].iloc[row]!r} "
                f"(line {row + 2})"
            )
        values[:, j] = numbers.to_numpy(dtype=float)
    empty_rows = int(np.isnan(values).all(axis=1).sum())
    if empty_rows:
        problems.append(f"{empty_rows} row(s) have no keyword value at all (every column empty or NaN)")

    times = _times(table[TIME], problems)
    label_arrays = {name: _label_values(table[name], name, problems) for name in labels}
    regions = table[REGION].to_numpy()
    if (table[REGION] == "").any():
        problems.append(f"{int((table[REGION] == '').sum())} row(s) have no {REGION}")
    if times is not None:
        frame = pd.DataFrame({"region": regions, "time": times})
        duplicated = frame.duplicated(keep=False)
        if duplicated.any():
            first = frame[duplicated].iloc[0]
            problems.append(
                f"{int(duplicated.sum())} rows repeat a ({REGION}, {TIME}) pair, e.g. {first['region']} at "
                f"{first['time']}"
            )
    region_split = _region_split(table, regions, data_seed, problems)
    if problems or times is None:
        return {}, problems

    seq_len = seq_len or DEFAULT_SEQ_LEN
    order = np.lexsort((times.astype("int64"), regions.astype(str)))
    windows, ends = [], []
    names, starts = np.unique(regions[order].astype(str), return_index=True)
    bounds = [*starts[1:], len(order)]
    for start, stop in zip(starts, bounds, strict=True):
        rows = order[start:stop]
        for k in range(seq_len - 1, len(rows)):
            windows.append(rows[k - seq_len + 1 : k + 1])
            ends.append(rows[k])
    if not windows:
        longest = max(b - s for s, b in zip(starts, bounds, strict=True))
        return {}, [f"no region has --seq-len={seq_len} rows (the longest has {longest}); lower --seq-len"]
    index, end = np.array(windows), np.array(ends)
    raw: Arrays = {
        "X": values[index].astype(np.float32),
        "split": np.array([region_split[str(r)] for r in regions[end]], dtype=np.int8),
        "region": np.searchsorted(names, regions[end].astype(str)).astype(np.int32),
        "feature_names": np.array(features),
    }
    for name, labelled in label_arrays.items():
        raw[name] = labelled[end]
    return raw, []


def _times(column, problems: list[str]):
    import pandas as pd

    text = column.str.strip().str.replace(r"_TAI$", "", regex=True)
    sharp = text.str.match(r"^\d{4}\.\d{2}\.\d{2}_\d{2}:\d{2}(:\d{2})?$")
    parsed = pd.Series(pd.NaT, index=column.index, dtype="datetime64[ns, UTC]")
    if sharp.any():
        parsed[sharp] = pd.to_datetime(
            text[sharp].str.replace("_", " ").str.replace(".", "-", n=2, regex=False), utc=True, errors="coerce"
        )
    if (~sharp).any():
        parsed[~sharp] = pd.to_datetime(text[~sharp], utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        problems.append(
            f"column {TIME}: {int(bad.sum())} value(s) are not a time, such as {column.iloc[row]!r} (line {row + 2}); "
            "write 2014.01.31_12:00:00_TAI or ISO 8601"
        )
        return None
    return parsed.dt.tz_convert(None).to_numpy()


def _label_values(column, name: str, problems: list[str]) -> np.ndarray:
    text = column.str.strip().str.upper()
    if name.startswith("y_"):
        ok = text.isin(("0", "1"))
        values = np.where(ok, text, "0").astype(np.uint8)
    else:
        letters = text.str.extract(r"^([NABCMX]?)(\d+(\.\d*)?)?$")[0]
        numeric = text.isin(("0", "1", "2", "3"))
        ok = numeric | (letters.notna() & ~text.str.fullmatch(r"\d.*"))
        values = np.where(
            numeric, text.where(numeric, "0"), letters.fillna("").map(_CLASS_LETTERS).fillna(0).astype(int)
        ).astype(np.int8)
    if not ok.all():
        row = int(np.flatnonzero(~ok.to_numpy())[0])
        allowed = "0 or 1" if name.startswith("y_") else "C, M, X (a GOES class such as M1.2), empty for none, or 0-3"
        problems.append(
            f"column {name}: {int((~ok).sum())} value(s) such as {column.iloc[row]!r} (line {row + 2}) are not "
            f"{allowed}"
        )
    return values


def _region_split(table, regions: np.ndarray, data_seed: int, problems: list[str]) -> dict[str, int]:
    unique = sorted(set(regions.astype(str)))
    if SPLIT not in table.columns:
        rng = np.random.default_rng([data_seed, 0xE5])
        ranks = rng.permutation(len(unique))
        cut_train = round(_SPLIT_SHARES[0] * len(unique))
        cut_val = cut_train + max(1, round(_SPLIT_SHARES[1] * len(unique)))
        return {
            region: 0 if rank < cut_train else 1 if rank < cut_val else 2
            for region, rank in zip(unique, ranks, strict=True)
        }
    split = table[SPLIT].str.strip().str.lower()
    bad = ~split.isin(list(_SPLIT_NAMES))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        problems.append(
            f"column {SPLIT}: {int(bad.sum())} value(s) such as {table[SPLIT].iloc[row]!r} (line {row + 2}) are "
            "not train, val or test"
        )
        return {}
    codes = split.map(_SPLIT_NAMES)
    per_region = codes.groupby(regions.astype(str)).nunique()
    mixed = per_region[per_region > 1]
    if len(mixed):
        problems.append(
            f"{len(mixed)} region(s) have rows in more than one split, e.g. {REGION} {mixed.index[0]}: split by "
            "region, so that no region is both trained and validated on"
        )
    return codes.groupby(regions.astype(str)).first().astype(int).to_dict()


__all__ = ["DEFAULT_SEQ_LEN", "read_sharp_csv"]
