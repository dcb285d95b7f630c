"""The ``dataoptim`` command line.

Each area of the library adds its commands through a ``register(app)``
function in its own module (listed in :data:`AREAS`), which keeps heavy imports
(``datasets``, ``torch``) inside the command bodies so ``dataoptim --help`` and
``dataoptim select`` start fast. Bad input (:class:`~dataoptim.errors.DataOptimError`)
ends the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

import typer

from dataoptim.errors import DataOptimError

#: Modules that contribute commands, each with ``register(app: typer.Typer) -> None``.
AREAS = (
    "dataoptim.catalog",
    "dataoptim.boxes",
    "dataoptim.select.cli",
    "dataoptim.signals.cli",
    "dataoptim.strategies.cli",
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
    rich_markup_mode=None,  # help texts as written: "[llava]", "dataoptim[deepspeed]" are not markup; flags shown as flags
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


#: Environment switches that turn off the progress bars of ``datasets`` and ``huggingface_hub``.
PROGRESS_BAR_SWITCHES = ("HF_DATASETS_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS")


@contextlib.contextmanager
def quiet_progress_bars():
    """Off a terminal, turn off the libraries' progress bars for the length of a command.

    ``datasets`` draws a bar for every split it generates and every ``map``,
    even when stderr is a log file or a pipe; there they are noise, and a bar
    left half-drawn by an error would put text after the ``error:`` line. On a
    terminal nothing changes, nor where the user set a switch of
    :data:`PROGRESS_BAR_SWITCHES` already.
    """
    if sys.stderr.isatty():
        yield
        return
    added = [name for name in PROGRESS_BAR_SWITCHES if name not in os.environ]
    for name in added:
        os.environ[name] = "1"  # read by datasets / huggingface_hub when first imported
    reenable = None
    if "datasets" in sys.modules and "HF_DATASETS_DISABLE_PROGRESS_BARS" in added:
        datasets_tqdm = importlib.import_module("datasets.utils.tqdm")  # the module (datasets.utils.tqdm is also a class)

        if not datasets_tqdm.are_progress_bars_disabled() and datasets_tqdm.HF_DATASETS_DISABLE_PROGRESS_BARS is None:
            datasets_tqdm.disable_progress_bars()
            reenable = datasets_tqdm.enable_progress_bars
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
        if reenable is not None:
            reenable()


@contextlib.contextmanager
def notes_for_warnings():
    """For the length of a command, a ``UserWarning`` raised by dataoptim's own code is printed as
    one ``note: <message>`` line on stderr, not Python's two lines (file:line: UserWarning, then the
    source line). Warnings of other libraries are shown as Python shows them.
    """
    import warnings

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, UserWarning) and os.path.abspath(str(filename)).startswith(package):
            typer.echo(f"note: {' '.join(str(message).split())}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        if warnings.showwarning is show:
            warnings.showwarning = shown


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Exit status: 0 success, 2 bad input or usage (one line on stderr), 130 interrupted.
    Off a terminal the libraries' progress bars are off (:func:`quiet_progress_bars`),
    so a failing command's stderr is that one ``error:`` line.
    """
    _load_areas()
    try:
        with quiet_progress_bars(), notes_for_warnings():
            app(args=argv, prog_name="dataoptim")  # standalone mode: ends with SystemExit
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except DataOptimError as exc:
        typer.echo(f"error: {' '.join(str(exc).split())}", err=True)  # always one line
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
