"""``python -m hpoctl.trainers.everest``: see ``--help``."""

from hpoctl.trainers.common.cli import main
from hpoctl.trainers.everest.config import SPEC

if __name__ == "__main__":
    raise SystemExit(main(SPEC))
