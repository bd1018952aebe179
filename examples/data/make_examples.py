"""Write a small example `--data` file (or folder) for each built-in trainer, in the format a team brings its own
data in, from the trainers' synthetic generators:

    python examples/data/make_examples.py            # into examples/data/
    hpoctl data check everest --target M_24h examples/data/everest/everest.csv
    hpoctl launch everest --target M_24h --data examples/data/everest/everest.csv --preset quick

Each file is deterministic (the same bytes every run) and small enough to keep in the repository.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pandas as pd

from hpoctl.trainers.csi.data import CLASSES
from hpoctl.trainers.csi.data import synthesize as synthesize_csi
from hpoctl.trainers.everest.data import synthetic_sharp_table
from hpoctl.trainers.forecast.data import synthesize as synthesize_series
from hpoctl.trainers.mlp.data import synthesize as synthesize_table
from hpoctl.trainers.transfer.data import synthesize as synthesize_transfer

HERE = Path(__file__).resolve().parent


def everest(out: Path) -> Path:
    """SHARP keywords, one row per region and hour, 30 regions (about 270 KB)."""
    path = out / "everest" / "everest.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic_sharp_table(30, data_seed=0).to_csv(path, index=False, float_format="%.4g")
    return path


def forecast(out: Path) -> Path:
    """Sixty days of an hourly load with its weather covariates, as `my_site` (target NHITS_Q@my_site)."""
    raw = synthesize_series("heat", 60, 0)
    frame = pd.DataFrame(raw["covariates"], columns=[str(n) for n in raw["covariate_names"]]).round(3)
    frame.insert(0, "value", raw["value"].round(3))
    frame.insert(0, "timestamp", pd.to_datetime(raw["timestamp"], unit="h").strftime("%Y-%m-%d %H:%M"))
    path = out / "forecast" / "my_site.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def csi(out: Path) -> Path:
    """Forty 64x64 radiograph-like images in class folders, PNG and JPEG mixed."""
    from PIL import Image

    raw = synthesize_csi(40, 64, 0)
    root = out / "csi"
    for index, (image, label) in enumerate(zip(raw["images"], raw["labels"], strict=True)):
        folder = root / CLASSES[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".jpg" if index % 2 else ".png"
        Image.fromarray(image).save(folder / f"image_{index:03d}{suffix}", **({"quality": 90} if index % 2 else {}))
    return root


def mlp(out: Path) -> Path:
    """A tabular classification set: twelve features, a text label, no split column (hpoctl makes one)."""
    raw = synthesize_table(300, 12, 3, 0)
    path = out / "mlp" / "mlp.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*(f"feature_{i}" for i in range(raw["X"].shape[1])), "label"])
        for row, label in zip(np.round(raw["X"], 4), raw["y"], strict=True):
            writer.writerow([*row, f"class_{int(label)}"])
    return path


def transfer(out: Path) -> Path:
    """A DFT set and a small experimental set with the same features, as dft.csv and exp.csv."""
    raw = synthesize_transfer(300, 60, 0)
    root = out / "transfer"
    root.mkdir(parents=True, exist_ok=True)
    features = [f"f{i}" for i in range(raw["dft_X"].shape[1])]
    dft = pd.DataFrame(np.round(raw["dft_X"], 4), columns=features).assign(chi=raw["dft_chi"].round(4))
    dft.to_csv(root / "dft.csv", index=False)
    exp = pd.DataFrame(np.round(raw["exp_X"], 4), columns=features)
    exp.assign(chi=raw["exp_chi"].round(4), soluble=raw["exp_soluble"]).to_csv(root / "exp.csv", index=False)
    return root


EXAMPLES = {"everest": everest, "forecast": forecast, "csi": csi, "mlp": mlp, "transfer": transfer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="Folder to write into (default: examples/data).")
    args = parser.parse_args()
    for name, make in EXAMPLES.items():
        print(f"{name}: {make(args.out)}")


if __name__ == "__main__":
    main()
