"""A trainer whose `--mode` hyperparameter picks one of the hostile trainer's ways of breaking the contract, so
that one SLURM job array meets them all."""

import os
import sys
from pathlib import Path

HOSTILE = str(Path(__file__).resolve().parents[1] / "supervisor" / "hostile_trainer.py")
MODES = {
    "long-line": "long-line",
    "binary": "binary",
    "nan-last": "lines:epoch=1 loss=0.9|epoch=2 loss=nan",
    "malformed": "lines:epoch=1 loss=0.3e",
    "children": "children",
}

if __name__ == "__main__":
    mode = next(arg.split("=", 1)[1] for arg in sys.argv[1:] if arg.startswith("--mode="))
    if mode == "children":
        os.environ["HOSTILE_PARENT_EXITS"] = "1"
    os.execv(sys.executable, [sys.executable, HOSTILE, MODES[mode]])
