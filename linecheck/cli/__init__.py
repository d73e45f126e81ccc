"""The ``linecheck`` command line (typer): one module per command group."""
