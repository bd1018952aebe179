"""``python -m hpoctl.trainers.transfer``: see ``--help``."""

from hpoctl.trainers.common.cli import main
from hpoctl.trainers.transfer.config import SPEC

if __name__ == "__main__":
    raise SystemExit(main(SPEC))
