"""`python -m hpoctl` is the `hpoctl` command."""

from hpoctl.cli.app import run

run()
