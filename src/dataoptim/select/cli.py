"""CLI commands of ``dataoptim.select`` (registered by ``dataoptim.cli``).

* ``dataoptim pool build --data-dir DIR --output POOL [--sources a,b]`` and ``dataoptim pool info POOL``
* ``dataoptim select --pool POOL (--ids FILE | --byod FILE | --mix SPEC --budget N) --output OUT.json``
* ``dataoptim validate SUBMISSION [--pool POOL] [--image-folder DIR]``

Imports stay inside the command bodies: ``dataoptim select --ids`` loads
pyarrow, numpy and polars, never ``datasets`` or torch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from dataoptim.errors import ConfigError
from dataoptim.imagepath import CLI_HELP as ALLOW_HELP
from dataoptim.select.validate import MAX_ERRORS
from dataoptim.words import count, plural


def parse_mix(spec: str) -> dict[str, float]:
    """Parse a mixture spec: ``"vqav2=0.5,llava=0.5"`` (``:`` also accepted), a JSON object, or a JSON file.

    Every weight must be a finite number ``>= 0``, at least one above 0, and each key given once.

    Raises:
        ConfigError: unparsable spec, a weight that is not a finite non-negative number, weights
            that sum to zero, an empty or repeated key (naming it); all with field ``--mix``.
    """
    import math

    from dataoptim.errors import InputError

    text = spec.strip()
    file = None
    try:
        is_file = not text.startswith("{") and len(text) < 4096 and Path(text).is_file()
    except OSError:  # a name too long for the file system, and the like: not a file
        is_file = False
    if is_file:
        file = Path(text)
        try:
            text = file.read_bytes().decode("utf-8").lstrip("\ufeff").strip()
        except UnicodeDecodeError:
            raise InputError("mixture file is not UTF-8 text", file=file, field="--mix") from None
        except OSError as exc:
            raise InputError(f"mixture file cannot be read ({exc.strerror or exc})", file=file, field="--mix") from None
    if text.startswith("{"):

        def no_repeats(pairs):
            seen = {}
            for key, value in pairs:
                if key in seen:
                    raise ConfigError(f"mixture key {key!r} is given twice; give each source or task once", file=file, field="--mix")
                seen[key] = value
            return seen

        try:
            value = json.loads(text, object_pairs_hook=no_repeats)
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"mixture spec is not valid JSON: {exc}", file=file, field="--mix") from None
        if not isinstance(value, dict):
            raise ConfigError("mixture spec must be a JSON object of key: weight", file=file, field="--mix")
        out = value
    else:
        out = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            sep = "=" if "=" in part else ":" if ":" in part else None
            if sep is None:
                raise ConfigError(f"mixture term {part!r} must be key=weight (e.g. vqav2=0.5,llava=0.5)", file=file, field="--mix")
            key, _, weight = part.partition(sep)
            key = key.strip()
            if key in out:
                raise ConfigError(f"mixture key {key!r} is given twice; give each source or task once", file=file, field="--mix")
            try:
                out[key] = float(weight)
            except ValueError:
                raise ConfigError(f"weight of {key!r} is not a number: {weight!r}", file=file, field="--mix") from None
    if not out:
        raise ConfigError("mixture spec is empty", file=file, field="--mix")
    for key, weight in out.items():
        if not key.strip():
            raise ConfigError("mixture term without a key (e.g. '=0.5'); write source=weight", file=file, field="--mix")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"weight of {key!r} must be a finite number >= 0, found {weight!r}", file=file, field="--mix")
    if sum(out.values()) <= 0:
        raise ConfigError("mixture weights sum to zero: give at least one a positive weight", file=file, field="--mix")
    return out


def _echo(message: str) -> None:
    typer.echo(message, err=True)


def _echo_mislabeled(summary) -> None:
    """Warn about a BYOD submission's image files whose content is another format than their name says."""
    if summary.mislabeled_count:
        _echo(f"{summary.mislabeled_count:,} image files are not what their name says (accepted: read by content):")
        for image, kind in summary.mislabeled[:20]:
            _echo(f"  {image} is really {kind}")


def _echo_train_nothing(summary) -> None:
    """Say how many records train nothing under the recipe (LLaVA masks every label of them), with the first few."""
    if summary.train_nothing:
        _echo(f"{count(summary.train_nothing, 'record')} {plural(summary.train_nothing, 'trains')} nothing under the recipe (LLaVA 744cb3e masks every label: tokenization mismatch):")
        shown = summary.train_nothing_shown[:5]
        for rid, reason in shown:
            _echo(f"  {rid}: {reason.split(': ', 1)[-1]}")
        if summary.train_nothing > len(shown):
            _echo(f"  and {summary.train_nothing - len(shown):,} more")


def _echo_token_cuts(summary) -> None:
    """With token counts: say how many records the recipe truncates and how many train nothing once
    counted with the tokenizer (a ``note:`` line, in ``dataoptim tokens``' words and values)."""
    t = summary.tokens or {}
    if t.get("truncated") or t.get("train_nothing"):
        k = t["train_nothing"]
        _echo(f"note: counted with the tokenizer: {t['truncated']:,} truncated at {t['model_max_length']} positions, "
              f"{k:,} {plural(k, 'trains')} nothing (as `dataoptim tokens` counts them)")


class _NoPandas:
    """Meta-path finder that refuses ``pandas`` (see :func:`lean_arrow`)."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is not needed here", name=name)
        return None


def lean_arrow() -> None:
    """Import pyarrow for a CLI command without pulling in pandas.

    pyarrow's pandas shim imports pandas (about 0.5 s) the first time a compute
    function checks its arguments. The CLI never hands pandas objects to
    pyarrow, so the first check is made with pandas refused, and pyarrow
    remembers that; pandas stays importable afterwards. Also picks Arrow's
    jemalloc pool (unless ``ARROW_DEFAULT_MEMORY_POOL`` is set), which gives
    memory back sooner than the default mimalloc: about 20% less peak memory
    for ``select`` here. Does nothing if pandas is already imported.
    """
    import os

    if "pandas" in sys.modules:
        return
    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        pc.utf8_length(pa.array([""]))
        if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ and "jemalloc" in pa.supported_memory_backends():
            pa.set_memory_pool(pa.jemalloc_memory_pool())  # returns freed memory sooner than mimalloc: lower peak RSS
    finally:
        sys.meta_path.remove(blocker)


def _apply_signal_options(selection, *, where, dedup, keep, score, cap_per_image, top_k, by, per, ascending, budget, budget_tokens, weights, temperature, seed):
    """``dataoptim select``'s signal options on ``selection``, in order: where, dedup, cap per image, top-k, budget."""
    from dataoptim.errors import DataOptimError

    def located(option, call):
        try:
            return call()
        except DataOptimError as exc:
            raise type(exc)(exc.message, file=exc.file, field=option if exc.field in (None, "where", "by", "keep", "score", "per", "k", "n", "budget", "budget_tokens", "weights", "temperature") else exc.field) from None

    if where is not None:
        selection = located("--where", lambda: selection.where(where))
    if dedup is not None:
        selection = located("--dedup", lambda: selection.dedup([d.strip() for d in dedup.split("+")], keep=keep, score=score))
    if cap_per_image is not None:
        selection = located("--cap-per-image", lambda: selection.cap_per_image(cap_per_image, score=score))
    if top_k is not None:
        selection = located("--top-k", lambda: selection.top_k(top_k, by, descending=not ascending, per=per))
    if budget is not None or budget_tokens is not None:
        ratios = parse_mix(weights) if weights is not None else None
        selection = located("--budget-tokens" if budget_tokens is not None else "--budget",
                            lambda: selection.sample_budget(budget=budget, budget_tokens=budget_tokens, weights=ratios, temperature=temperature, seed=seed))
    return selection


def _box_mover(boxes: str, image_sizes: Path | None, image_folder: Path | None, allow_symlinks_out: bool):
    """The :class:`dataoptim.boxes.BoxMover` of ``select --boxes`` (checked before anything is read or written).

    Raises:
        ConfigError: ``--boxes`` unknown; ``padded``/``padded-exact`` without ``--image-folder`` or
            ``--image-sizes``; ``--image-sizes`` with ``--boxes original``.
        MissingFileError, InputError: the image-size file is missing or malformed.
    """
    from dataoptim.boxes import TARGETS, BoxMover, ImageSizes, load_image_sizes

    if boxes not in TARGETS:
        raise ConfigError(f"must be one of {', '.join(TARGETS)}, got {boxes!r}", field="--boxes")
    if boxes == "original":
        if image_sizes is not None:
            raise ConfigError("--image-sizes is only for --boxes padded or padded-exact (the original frame needs no sizes)", field="--image-sizes")
        return BoxMover("original")
    if image_sizes is None and image_folder is None:
        raise ConfigError(f"--boxes {boxes} needs the images' sizes: give --image-folder DIR or --image-sizes FILE", field="--boxes")
    sizes = ImageSizes(load_image_sizes(image_sizes) if image_sizes is not None else None, image_folder, allow_symlinks_out=allow_symlinks_out)
    return BoxMover(boxes, sizes)


def register(app) -> None:
    """Add ``pool build``, ``pool info``, ``select`` and ``validate`` to the ``dataoptim`` Typer app."""
    pool_app = typer.Typer(help="Build and inspect a pool (all sources as Arrow files plus an id index).", no_args_is_help=True)
    app.add_typer(pool_app, name="pool")

    @pool_app.command("build")
    def pool_build(
        data_dir: Path = typer.Option(..., "--data-dir", help="Folder of DataOptim's converted <source>.json files or original annotation files, or DataOptim's data.zip itself (no need to unzip it: its <source>.json members are streamed to a temporary folder beside --output, removed after the build)."),
        output: Path = typer.Option(..., "--output", "-o", help="Pool folder to write (replaced if it is a pool)."),
        sources: Optional[str] = typer.Option(None, "--sources", help="Comma-separated sources to build (default: every source found)."),
        overwrite: bool = typer.Option(True, "--overwrite/--no-overwrite", help="Replace an existing pool at --output."),
        num_proc: int = typer.Option(1, "--num-proc", help="Build sources in this many worker processes, largest first (default 1: one after the other)."),
    ) -> None:
        """Build a pool: decode and check every source as Arrow tables, write Arrow files and the id index."""
        from dataoptim.select.pool import build_pool

        names = None
        if sources is not None:
            names = [s.strip() for s in sources.split(",")]
            if not any(names):
                raise ConfigError("no source named: give one or more, comma-separated (e.g. --sources coco,vqav2), or leave --sources out to build every source found", field="--sources")
            if not all(names):
                raise ConfigError(f"an empty source name in {sources!r}: give names separated by single commas", field="--sources")
        report = build_pool(data_dir, output, sources=names, overwrite=overwrite, num_proc=num_proc)
        total = sum(report.sources.values())
        typer.echo(f"pool {output}: {count(total, 'record')} from {count(len(report.sources), 'source')} in {report.seconds:.1f} s")
        for name, rows in report.sources.items():
            typer.echo(f"  {name:10s} {rows:>12,}")
        if report.skipped:
            _echo(f"  skipped {count(len(report.skipped), 'source')} without files: {', '.join(report.skipped)} (`dataoptim sources` lists what each needs)")
        if report.duplicate_count:
            shown = ", ".join(d["id"] for d in report.duplicates[:5])
            _echo(f"  {report.duplicate_count:,} identical duplicate ids kept once (e.g. {shown}); listed in {output}/manifest.json")

    @pool_app.command("info")
    def pool_info(pool: Path = typer.Argument(..., help="Pool folder.")) -> None:
        """Print a pool's sources, record counts and duplicates."""
        from dataoptim.select.pool import Pool

        opened = Pool.open(pool)
        typer.echo(repr(opened))
        for part in opened.parts:
            typer.echo(f"  {part.name:10s} {part.task:9s} {part.rows:>12,}  ({part.origin}, {part.nbytes / 1e6:,.1f} MB)")
        if opened.manifest.get("duplicate_count"):
            typer.echo(f"  {opened.manifest['duplicate_count']:,} identical duplicate ids kept once")

    @app.command("select")
    def select(
        output: Path = typer.Option(..., "--output", "-o", help="LLaVA training JSON to write (atomically)."),
        pool: Optional[Path] = typer.Option(None, "--pool", help="Pool folder (needed for --ids and --mix)."),
        ids: Optional[Path] = typer.Option(None, "--ids", help="Standard submission: a file of ids, one per line."),
        byod: Optional[Path] = typer.Option(None, "--byod", help="BYOD submission: a LLaVA JSON list, validated record by record."),
        mix: Optional[str] = typer.Option(None, "--mix", help="Mixture: 'vqav2=0.5,llava=0.5' (sources or tasks), a JSON object or a JSON file."),
        budget: Optional[int] = typer.Option(None, "--budget", help="Records in the mixture."),
        seed: int = typer.Option(0, "--seed", help="Seed of the mixture."),
        replace: bool = typer.Option(False, "--replace", help="Draw the mixture with replacement."),
        exclude_images: Optional[Path] = typer.Option(None, "--exclude-images", help="File of image paths (one per line) never to draw in a mixture."),
        skip_unknown: bool = typer.Option(False, "--skip-unknown", help="Drop ids that are not in the pool instead of failing."),
        image_folder: Optional[Path] = typer.Option(None, "--image-folder", help="Check that every image exists here before writing."),
        decode_images: bool = typer.Option(False, "--decode-images", help="Also decode every image fully, in parallel, before writing (finds files cut short after their header); needs --image-folder."),
        allow_symlinks_out: bool = typer.Option(False, "--allow-symlinks-out", help=ALLOW_HELP),
        write_ids: Optional[Path] = typer.Option(None, "--write-ids", help="Also write the selected ids, one per line."),
        summary_json: Optional[Path] = typer.Option(None, "--summary", help="Also write the summary as JSON."),
        plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the composition plot (PNG)."),
        boxes: str = typer.Option("original", "--boxes", help="Frame of the grounding boxes written: 'original' (as released), 'padded' (moved as DataOptim's tools/expand_to_square.py: the challenge's final data; needs --image-folder or --image-sizes) or 'padded-exact' (exact, rounded once; not DataOptim's). Noted beside the output in OUT.json.boxes.json."),
        image_sizes: Optional[Path] = typer.Option(None, "--image-sizes", help="With --boxes padded: JSON object {image: [width, height]} instead of reading image headers."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the one-line result."),
        where: Optional[str] = typer.Option(None, "--where", help="Keep records where this SQL condition over columns and signals holds, e.g. 'answer_words > 5 AND NOT flagged'."),
        dedup: Optional[str] = typer.Option(None, "--dedup", help="Keep one record per group: conversation, question_image, image, image_content, neardup or a column."),
        keep: str = typer.Option("first", "--keep", help="With --dedup: keep the first record of a group, or the best by --score."),
        score: Optional[str] = typer.Option(None, "--score", help="Column ranking records for --keep best and --cap-per-image."),
        cap_per_image: Optional[int] = typer.Option(None, "--cap-per-image", help="At most N records per image."),
        top_k: Optional[int] = typer.Option(None, "--top-k", help="Keep the K records with the largest --by (with --ascending the smallest)."),
        by: Optional[str] = typer.Option(None, "--by", help="Column or signal ranking --top-k."),
        per: Optional[str] = typer.Option(None, "--per", help="With --top-k: K per source or per task."),
        ascending: bool = typer.Option(False, "--ascending", help="With --top-k: the smallest values."),
        budget_tokens: Optional[int] = typer.Option(None, "--budget-tokens", help="Sample records up to this many tokens (needs the tokens signal)."),
        weights: Optional[str] = typer.Option(None, "--weights", help="With --budget/--budget-tokens sampling: source and task weights, 'vqav2=2,caption=0.5'."),
        temperature: float = typer.Option(1.0, "--temperature", help="With sampling: 1 = proportional to size x weight; larger flattens towards uniform."),
        tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="Token counts in the summary with this tokenizer folder when the pool has no tokens signal (with one, they are read from it); a --byod file's records are counted with it."),
    ) -> None:
        """Turn a submission (ids, BYOD JSON, a mixture, or the pool filtered by signals) into LLaVA training JSON, with a summary and OUT.json.boxes.json (the frame of its boxes).

        Signal options (--where, --dedup, --cap-per-image, --top-k, --budget/--budget-tokens) apply in
        that order, to the --ids or --mix selection or, without either, to the whole pool.
        """
        lean_arrow()
        from dataoptim.select.checks import check_output_paths, check_seed

        by_signal = any(v is not None for v in (where, dedup, cap_per_image, top_k, budget_tokens, weights)) or (budget is not None and mix is None and byod is None)
        chosen = [name for name, value in (("--ids", ids), ("--byod", byod), ("--mix", mix)) if value is not None]
        if len(chosen) > 1 or (not chosen and not by_signal):
            raise ConfigError("give exactly one of --ids, --byod or --mix (or --pool with --where/--top-k/--dedup/--budget)" + (f" (got {', '.join(chosen)})" if chosen else ""))
        if by_signal and byod is not None:
            raise ConfigError("signal options (--where, --top-k, --dedup, --budget-tokens...) apply to --ids, --mix or the pool, not to --byod")
        if by_signal and pool is None:
            raise ConfigError("signal options need --pool POOL", field="--pool")
        if top_k is not None and by is None:
            raise ConfigError("--top-k needs --by COLUMN", field="--by")
        if mix is not None and budget is None:
            raise ConfigError("--mix needs --budget N", field="--budget")
        if budget is not None and budget_tokens is not None:
            raise ConfigError("give --budget (records) or --budget-tokens, not both", field="--budget-tokens")
        if budget is None and mix is None and budget_tokens is None and weights is not None:
            raise ConfigError("--weights needs --budget or --budget-tokens", field="--weights")
        if budget is not None and budget < 0:
            raise ConfigError(f"must be a non-negative integer, found {budget}", field="--budget")
        check_seed(seed, field="--seed")
        if exclude_images is not None and mix is None:
            raise ConfigError("--exclude-images is only for --mix", field="--exclude-images")
        if (ids is not None or mix is not None) and pool is None:
            raise ConfigError(f"{chosen[0]} needs --pool POOL", field="--pool")
        if decode_images and image_folder is None:
            raise ConfigError("--decode-images needs --image-folder DIR", field="--decode-images")
        # every output can be written (no folder, a parent that exists or can be made, no two the same),
        # checked before anything is read or written: a failure never leaves some outputs written
        # and none is one of the inputs (a submission, an id list, a sidecar...: silent data loss otherwise)
        from dataoptim.boxes import frame_path

        check_output_paths(
            {"--output": output, "--output's frame file": frame_path(output), "--write-ids": write_ids,
             "--summary": summary_json, "--plot": plot},
            inputs={"--byod": byod, "--ids": ids, "--pool": pool, "--mix": None if mix is None or mix.lstrip().startswith("{") else mix,
                    "--exclude-images": exclude_images, "--image-sizes": image_sizes, "--tokenizer": tokenizer, "--image-folder": image_folder,
                    "--byod's frame file": None if byod is None else frame_path(byod)},
        )
        if tokenizer is not None:  # found and loaded before anything is written (then cached for the counts)
            from dataoptim.signals import tokens as token_signal

            token_signal.prepare({**token_signal.PARAMS, "tokenizer": tokenizer})
        mover = _box_mover(boxes, image_sizes, image_folder, allow_symlinks_out)
        ratios = parse_mix(mix) if mix is not None else None
        excluded = None
        if exclude_images is not None:
            from dataoptim.errors import DataOptimError
            from dataoptim.select.selection import read_image_list

            try:
                excluded = read_image_list(exclude_images)
            except DataOptimError as exc:
                raise type(exc)(exc.message, file=exc.file, field="--exclude-images") from None
        if byod is not None:
            from dataoptim.select.byod import validate_byod

            opened = None
            if pool is not None:
                from dataoptim.select.pool import Pool

                opened = Pool.open(pool)
            summary = validate_byod(byod, image_folder, pool=opened, output=output, allow_symlinks_out=allow_symlinks_out, boxes=mover,
                                    decode_images=decode_images, progress=sys.stderr.isatty(), tokenizer=tokenizer)
            if not quiet:
                _echo_mislabeled(summary)
            if write_ids is not None:
                from dataoptim.io import iter_json_items
                from dataoptim.select.ids import write_id_file

                write_id_file((r["id"] for r in iter_json_items(output)), write_ids)
        else:
            from dataoptim.select.pool import Pool

            opened = Pool.open(pool)
            if ids is not None:
                selection = opened._by_ids(ids, skip_unknown=skip_unknown, unknown_hint="pass --skip-unknown to drop them")
                report = selection.report
                if report.get("unknown") and not quiet:
                    _echo(f"skipped {report['unknown']:,} unknown ids, e.g. {', '.join(report['unknown_examples'][:3])}")
                if report.get("repeats") and not quiet:
                    _echo(f"{report['repeats']:,} repeated ids kept as repeated samples, e.g. {', '.join(report.get('repeated_examples', [])[:3])}")
            elif mix is not None:
                selection = opened.mix(ratios, budget, seed=seed, replace=replace, exclude_images=excluded)
            else:
                selection = opened.all()
            if by_signal:
                selection = _apply_signal_options(
                    selection, where=where, dedup=dedup, keep=keep, score=score, cap_per_image=cap_per_image, top_k=top_k, by=by, per=per,
                    ascending=ascending, budget=None if mix is not None else budget, budget_tokens=budget_tokens, weights=weights,
                    temperature=temperature, seed=seed,
                )
            if decode_images:
                from dataoptim.select.validate import require_decodable

                require_decodable(selection, image_folder, allow_symlinks_out=allow_symlinks_out, progress=sys.stderr.isatty())
            full = not quiet or summary_json is not None or plot is not None
            summary = selection.to_llava_json(output, image_folder=image_folder, progress=not quiet, summary=full, allow_symlinks_out=allow_symlinks_out, boxes=mover,
                                           tokenizer=tokenizer)
            if write_ids is not None:
                selection.write_ids(write_ids)
        from dataoptim.boxes import write_frame_file

        write_frame_file(output, mover.info())  # always: a sidecar left by an earlier run never describes this file
        if summary_json is not None:
            summary.write_json(summary_json)
        if plot is not None:
            summary.plot(plot)
        if not quiet:
            summary.print()
            _echo_train_nothing(summary)
            _echo_token_cuts(summary)
        typer.echo(f"wrote {count(summary.records, 'record')} to {output}")
        if summary.records == 0:  # e.g. --where FALSE: a file that validate, tokens and train refuse
            typer.echo("note: the selection holds no record (an empty list is no submission: validate, tokens and train refuse it)", err=True)

    @app.command("validate")
    def validate(
        submission: Path = typer.Argument(..., help="A standard submission (ids, .txt) or a BYOD submission (LLaVA JSON list, or JSON Lines: one record per line)."),
        pool: Optional[Path] = typer.Option(None, "--pool", help="Pool to look ids up in (needed to check a standard submission's ids)."),
        image_folder: Optional[Path] = typer.Option(None, "--image-folder", help="Check that every image exists here and is an image (its header parsed)."),
        decode_images: bool = typer.Option(False, "--decode-images", help="Also decode every image fully, in parallel (finds files cut short after their header); needs --image-folder."),
        allow_symlinks_out: bool = typer.Option(False, "--allow-symlinks-out", help=ALLOW_HELP),
        max_errors: int = typer.Option(MAX_ERRORS, "--max-errors", help="Problems printed, one line each, before the total count."),
        report: Optional[Path] = typer.Option(None, "--report", help="Write every problem to this file as JSON Lines (written even when there is none)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the problems, or the one-line verdict."),
        tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="Token counts (prompt, answer, total: those of `dataoptim tokens`) in the summary, with the recipe's tokenizer folder."),
    ) -> None:
        """Check a submission without changing it: every problem, one line each; exit 0 when valid, 2 otherwise."""
        lean_arrow()
        from dataoptim.select.checks import check_output_paths
        from dataoptim.select.validate import check_submission

        if max_errors < 0:
            raise ConfigError(f"must be an integer >= 0, found {max_errors}", field="--max-errors")
        if decode_images and image_folder is None:
            raise ConfigError("--decode-images needs --image-folder DIR", field="--decode-images")
        if report is not None:  # before anything is read; never the submission itself, nor another input
            from dataoptim.boxes import frame_path

            check_output_paths({"--report": report}, inputs={"the submission": submission, "the submission's frame file": frame_path(submission),
                                                             "--pool": pool, "--image-folder": image_folder, "--tokenizer": tokenizer})
        found = check_submission(submission, image_folder, pool=pool, decode_images=decode_images,
                                 allow_symlinks_out=allow_symlinks_out, progress=sys.stderr.isatty(), tokenizer=tokenizer)
        if report is not None:
            found.write_report(report)
        if not quiet and found.mislabeled_count:
            _echo_mislabeled(found)
        if found.problems:
            for problem in found.problems[:max_errors]:
                _echo(f"error: {' '.join(str(problem).split())}")
            total = len(found.problems)
            if total > 1 or total > max_errors:
                shown = min(total, max_errors)
                where = f"; all of them in {report}" if report is not None else ("; --report FILE lists all of them" if shown < total else "")
                _echo(f"{total:,} problem{'s' if total != 1 else ''} in total ({shown:,} shown{where})")
            if not quiet:
                typer.echo(found.checked())
            raise typer.Exit(2)
        summary = found.summary
        if found.kind == "standard submission":
            if found.pool_checked is None:
                if tokenizer is not None:  # not ignored silently
                    _echo("note: --tokenizer is not used: an id list's token counts need --pool POOL (the ids' records are in the pool)")
                if not quiet:
                    typer.echo(found.checked())
                typer.echo(f"{submission}: {found.records:,} well-formed ids (pass --pool to check they exist)")
                return
            from dataoptim.select.pool import Pool

            selection = Pool.open(pool)._by_ids(submission, skip_unknown=False, unknown_hint="a standard submission may name only ids of the pool")
            summary = selection.summary(tokenizer=tokenizer)
            if selection.report.get("repeats") and not quiet:
                _echo(f"{selection.report['repeats']:,} repeated ids (counted as repeated samples)")
        if not quiet:
            summary.print()
            typer.echo(found.checked())
            _echo_train_nothing(summary)
            _echo_token_cuts(summary)
        kind = found.kind.replace(" (JSON list)", "").replace(" (JSON Lines)", "")
        layout = " (JSON Lines)" if "JSON Lines" in found.kind else ""
        if found.images_checked is None:
            checked = "; image files not checked (no --image-folder)"
        else:
            checked = "; image files found" + (" and decoded" if found.images_decoded is not None else " (headers parsed)")
        typer.echo(
            f"{submission}: valid {kind}{layout}, {count(summary.records, 'record')}, {count(summary.images, 'image')}"
            + (f", {summary.train_nothing:,} {plural(summary.train_nothing, 'trains')} nothing under the recipe" if summary.train_nothing else "")
            + checked
        )


if __name__ == "__main__":  # pragma: no cover
    from dataoptim.cli import main

    sys.exit(main(["select", *sys.argv[1:]]))
