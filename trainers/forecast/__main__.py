"""``python -m hpoctl.trainers.forecast``: see ``--help``."""

from hpoctl.trainers.common.cli import main
from hpoctl.trainers.forecast.config import SPEC

if __name__ == "__main__":
    raise SystemExit(main(SPEC))
