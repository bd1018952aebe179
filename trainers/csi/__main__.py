"""``python -m hpoctl.trainers.csi``: see ``--help``."""

from hpoctl.trainers.common.cli import main
from hpoctl.trainers.csi.config import SPEC

if __name__ == "__main__":
    raise SystemExit(main(SPEC))
