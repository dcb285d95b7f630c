"""CLI commands of `dataoptim.evaluate` (registered by ``dataoptim.cli``)."""


def register(app) -> None:
    """Add this area's commands to the ``dataoptim`` Typer app."""
