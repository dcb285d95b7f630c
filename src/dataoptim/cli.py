"""The ``dataoptim`` command line.

Each area of the library adds its commands through a ``register(app)``
function in its own module (listed in :data:`AREAS`), which keeps heavy imports
(``datasets``, ``torch``) inside the command bodies so ``dataoptim --help`` and
``dataoptim select`` start fast. Bad input (:class:`~dataoptim.errors.DataOptimError`)
ends the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import importlib
import sys

import typer

from dataoptim.errors import DataOptimError

#: Modules that contribute commands, each with ``register(app: typer.Typer) -> None``.
AREAS = (
    "dataoptim.catalog",
    "dataoptim.boxes",
    "dataoptim.select.cli",
    "dataoptim.train.cli",
    "dataoptim.evaluate.cli",
    "dataoptim.demo",
)

app = typer.Typer(
    name="dataoptim",
    help="Choose, check, train on and evaluate visual-instruction-tuning data (the DataOptim pool).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_loaded = False


def _print_version(value: bool) -> None:
    if value:
        from dataoptim import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version),
) -> None:
    """Choose, check, train on and evaluate visual-instruction-tuning data (the DataOptim pool)."""


def _load_areas() -> None:
    global _loaded
    if _loaded:
        return
    for name in AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # area not written yet
                continue
            raise
        register = getattr(module, "register", None)
        if register is not None:
            register(app)
    _loaded = True


def fail(message: str) -> "typer.Exit":
    """Print ``error: <message>`` on stderr and return an exit with status 2 (raise it)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Exit status: 0 success, 2 bad input or usage (one line on stderr), 130 interrupted.
    """
    _load_areas()
    try:
        app(args=argv, prog_name="dataoptim")  # standalone mode: ends with SystemExit
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except DataOptimError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
