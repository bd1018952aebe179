"""The `hpoctl` command line (Typer), one module per command group."""
