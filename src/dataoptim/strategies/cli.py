"""CLI of strategies: ``dataoptim strategy list`` and ``dataoptim strategy run NAME --pool P --budget N --output ids.txt``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app) -> None:
    """Add ``strategy list|run`` to the ``dataoptim`` Typer app."""
    strategy_app = typer.Typer(help="Run a named selection baseline and write a standard submission (an id list).", no_args_is_help=True)
    app.add_typer(strategy_app, name="strategy")

    @strategy_app.command("list")
    def list_strategies() -> None:
        """List the strategies, the signals each needs and the paper it follows."""
        from dataoptim import strategies

        for name in strategies.STRATEGIES:
            module = strategies.get(name)
            typer.echo(f"{name}: {module.DESCRIPTION}; needs {', '.join(module.NEEDS) or 'no signal'}")
            typer.echo(f"    {module.PAPER}")

    @strategy_app.command("run")
    def run(
        name: str = typer.Argument(..., help="Strategy (dataoptim strategy list)."),
        pool: Path = typer.Option(..., "--pool", help="Pool folder."),
        budget: int = typer.Option(..., "--budget", help="Records to select (at most)."),
        output: Path = typer.Option(..., "--output", "-o", help="Id list to write (a standard submission)."),
        seed: int = typer.Option(0, "--seed", help="Seed."),
        ids: Optional[Path] = typer.Option(None, "--ids", help="Run on these pool ids only (a standard submission) instead of the whole pool."),
        option: Optional[List[str]] = typer.Option(None, "--option", help="Strategy option key=value (repeat), e.g. clusters=50."),
    ) -> None:
        """Run a strategy under a budget and write its ids, one per line (accepted by `dataoptim select --ids`)."""
        from dataoptim import strategies
        from dataoptim.errors import ConfigError
        from dataoptim.select.checks import check_output_path, check_seed
        from dataoptim.select.pool import Pool
        from dataoptim.signals.cli import parse_params

        if budget < 0:
            raise ConfigError(f"must be a non-negative integer, found {budget}", field="--budget")
        check_seed(seed, field="--seed")
        output = check_output_path(output, field="--output")
        from dataoptim.io import refuse_overwrite

        refuse_overwrite({"--output": output}, {"--ids": ids, "--pool": pool})  # never the id list it reads
        strategies.get(name)
        opened = Pool.open(pool)
        base = opened.by_ids(ids) if ids is not None else None
        selection = strategies.run(name, opened, budget, seed=seed, base=base, **parse_params(option))
        selection.write_ids(output)
        counts = selection.source_counts()
        from dataoptim.words import count

        typer.echo(f"strategy {name}: {count(len(selection), 'record')} -> {output}")
        for source, n in counts.items():
            typer.echo(f"  {source:10s} {n:>10,}")
