"""``python -m hpoctl.trainers.mlp``: see ``--help``."""

from hpoctl.trainers.common.cli import main
from hpoctl.trainers.mlp.config import SPEC

if __name__ == "__main__":
    raise SystemExit(main(SPEC))
