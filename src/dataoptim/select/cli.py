"""CLI commands of `dataoptim.select` (registered by ``dataoptim.cli``)."""


def register(app) -> None:
    """Add this area's commands to the ``dataoptim`` Typer app."""
