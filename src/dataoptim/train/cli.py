"""CLI commands of `dataoptim.train` (registered by ``dataoptim.cli``): ``dataoptim train``.

``torch`` and ``transformers`` are imported inside the command, so ``dataoptim --help`` stays fast.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

from dataoptim.imagepath import CLI_HELP as ALLOW_HELP
from dataoptim.words import count, plural


class Backend(str, Enum):
    hf = "hf"
    llava = "llava"


def _parse_extra(pairs: list[str]) -> dict[str, str]:
    from dataoptim.errors import ConfigError

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip("- "):
            raise ConfigError(f"--extra takes FLAG=VALUE (e.g. mm_projector_lr=2e-5), found {pair!r}")
        out[key.strip().lstrip("-")] = value
    return out


def register(app) -> None:
    """Add ``dataoptim train`` and ``dataoptim tokens`` to the ``dataoptim`` Typer app."""
    import typer

    @app.command("tokens")
    def tokens_command(
        data: Path = typer.Option(..., "--data", help="Selection: LLaVA JSON list (.json) or JSON Lines (.jsonl, or a .json file whose first line is a record, as validate reads it); another name is read by its first character ([ or {)."),
        tokenizer: Path = typer.Option(..., "--tokenizer", help="Folder with LLaMA-2's tokenizer.model (and tokenizer_config.json), e.g. the Llama-2-7b-chat-hf folder."),
        output: Path = typer.Option(..., "--output", help="JSON Lines file: one line per record (id, input_ids, labels, truncated, masked)."),
        model_max_length: int = typer.Option(2048, "--model-max-length", help="Recipe: 2048 positions, the image counted once."),
        image_features: int = typer.Option(256, "--image-features", help="-200 positions written per image (recipe: 256, CLIP ViT-L/14 at 224 px)."),
        image_position: str = typer.Option("front", "--image-position", help="<image> to the 'front' (LLaVA) or keep 'inline' (not the recipe)."),
        legacy: Optional[bool] = typer.Option(None, "--legacy/--no-legacy", help="Override the tokenizer config's legacy setting (Llama-2-7b-chat-hf: no-legacy)."),
        show: int = typer.Option(0, "--show", help="Print the first N records decoded, masked spans between ⟦ ⟧ (what lies outside is trained)."),
    ) -> None:
        """Write what the recipe feeds the model for each record: token ids, labels, cuts and masks (LLaVA 744cb3e, exact)."""
        from dataoptim.errors import ConfigError
        from dataoptim.train.tokens import write_tokens

        if image_position not in ("front", "inline"):
            raise ConfigError(f"--image-position must be 'front' or 'inline', found {image_position!r}")
        from dataoptim.io import refuse_overwrite

        refuse_overwrite({"--output": output}, {"--data": data, "--tokenizer": tokenizer})  # before anything is read or written
        counts = write_tokens(
            data, tokenizer, output, model_max_length=model_max_length, image_features=image_features,
            image_position=image_position, legacy=legacy, show=show,
        )
        typer.echo(
            f"wrote {count(counts['records'], 'record')} to {output}: {counts['truncated']:,} truncated at {model_max_length} positions, "
            f"{counts['masked']:,} masked by the recipe, {counts['train_nothing']:,} {plural(counts['train_nothing'], 'trains')} nothing, "
            f"{count(counts['repeats'], 'repeat')}",
            err=True,
        )

    @app.command("train")
    def train_command(
        data: Path = typer.Option(..., "--data", help="Selection: LLaVA JSON list (.json), JSON Lines (.jsonl, or a .json file whose first line is a record; another name is read by its first character, [ or {), or a saved datasets folder."),
        image_folder: Path = typer.Option(..., "--image-folder", help="Folder the records' image paths are relative to."),
        allow_symlinks_out: bool = typer.Option(False, "--allow-symlinks-out", help=ALLOW_HELP),
        output_dir: Path = typer.Option(..., "--output-dir", help="Checkpoint folder (and where run files go)."),
        backend: Backend = typer.Option(Backend.hf, "--backend", help="llava: LLaVA's deepspeed launcher; hf: transformers Trainer."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Check the inputs; print the command (llava) or the data report (hf); write nothing."),
        # the recipe's parts
        model_name_or_path: Optional[str] = typer.Option(None, "--model-name-or-path", help="Base LLM (Llama-2-7b-chat-hf folder)."),
        pretrain_mm_mlp_adapter: Optional[Path] = typer.Option(None, "--pretrain-mm-mlp-adapter", help="LLaVA pretrain projector mm_projector.bin."),
        vision_tower: Optional[str] = typer.Option(None, "--vision-tower", help="Replace openai/clip-vit-large-patch14 (e.g. a local copy)."),
        report_to: Optional[str] = typer.Option(None, "--report-to", help="Logging integration (recipe: wandb for llava; hf default none)."),
        image_aspect_ratio: str = typer.Option("pad", "--image-aspect-ratio", help="'pad' (the recipe: DataOptim's final script) or 'square' (CLIP resize and centre crop, no padding: DataOptim's October script)."),
        # llava backend
        llava_repo: Optional[Path] = typer.Option(None, "--llava-repo", help="[llava] LLaVA checkout (commit 744cb3e)."),
        num_gpus: Optional[int] = typer.Option(None, "--num-gpus", help="[llava] deepspeed --num_gpus (default: all)."),
        lora: bool = typer.Option(False, "--lora", help="[llava] LoRA for a small local check (lora_enable, lr 2e-4)."),
        qlora: bool = typer.Option(False, "--qlora", help="[llava] QLoRA (4-bit, LoRA, ZeRO-2)."),
        extra: List[str] = typer.Option([], "--extra", help="[llava] Set or replace a LLaVA flag: FLAG=VALUE (repeatable)."),
        run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="[llava] Where the data JSON, ZeRO config and command.sh go (default --output-dir)."),
        # hf backend
        model: str = typer.Option("tiny", "--model", help="[hf] 'tiny' (random, for tests) or a llava-hf checkpoint to start from."),
        max_steps: int = typer.Option(-1, "--max-steps", help="[hf] Stop after N optimizer steps (-1: one full epoch)."),
        per_device_train_batch_size: int = typer.Option(16, "--per-device-train-batch-size", help="[hf] Recipe: 16."),
        gradient_accumulation_steps: int = typer.Option(1, "--gradient-accumulation-steps", help="[hf] Recipe: 1."),
        learning_rate: float = typer.Option(2e-5, "--learning-rate", help="[hf] Recipe: 2e-5."),
        model_max_length: int = typer.Option(2048, "--model-max-length", help="[hf] Recipe: 2048 positions, the image counted once (LLaVA cuts longer records)."),
        dataloader_num_workers: int = typer.Option(4, "--dataloader-num-workers", help="[hf] Recipe: 4."),
        deepspeed: Optional[str] = typer.Option(None, "--deepspeed", help="[hf] zero3, zero2 or a DeepSpeed json (needs dataoptim[deepspeed])."),
        gradient_checkpointing: bool = typer.Option(True, "--gradient-checkpointing/--no-gradient-checkpointing", help="[hf] Recipe: on."),
        image_position: str = typer.Option("front", "--image-position", help="[hf] <image> to the 'front' (LLaVA) or keep 'inline'."),
        strict_length: bool = typer.Option(False, "--strict-length", help="[hf] Refuse records longer than --model-max-length (image counted once) instead of cutting them as LLaVA does."),
        skip_bad_records: bool = typer.Option(False, "--skip-bad-records", help="[hf] Drop (and report) the records LLaVA masks entirely, and with --strict-length those too long."),
        llama_tokenizer: Optional[Path] = typer.Option(None, "--llama-tokenizer", help="[hf] Folder with LLaMA-2's tokenizer.model for LLaVA's exact ids (default: the start model's folder, when it holds one)."),
        token_average: bool = typer.Option(False, "--token-average", help="[hf] Not the recipe: average the loss over all label tokens across devices and accumulation steps (transformers' newer default) instead of LLaVA's per-device mean."),
        open_images: bool = typer.Option(False, "--decode-images", "--open-images", help="Decode every image fully before training, in parallel with a progress bar (finds files cut short after their header); a bad one stops the run at once, naming the record."),
        skip_bad_images: bool = typer.Option(False, "--skip-bad-images", help="[hf] Decode every image before training and drop (and report in data_report.json) the records whose image cannot be decoded, instead of stopping."),
        resume: bool = typer.Option(False, "--resume", help="[hf] Continue from the last checkpoint-N in --output-dir: weights, optimizer, scheduler and the place in the data order."),
        cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Arrow cache for the selection."),
        seed: int = typer.Option(42, "--seed", help="[hf] Seed."),
    ) -> None:
        """Train on a selection with the challenge's fixed recipe (LLaVA-LLaMA-2-7B instruction tuning): LLaVA's own launcher or transformers."""
        import warnings

        from dataoptim.boxes import frame_note
        from dataoptim.errors import ConfigError
        from dataoptim.modelref import check_model_ref
        from dataoptim.train import train

        # a mistyped folder is refused at once, not taken for a hub id (llava: the launcher's machine loads them)
        for option, value in (("--model", model), ("--model-name-or-path", model_name_or_path), ("--vision-tower", vision_tower)):
            if value is not None:
                check_model_ref(value, option=option, probe=backend is Backend.hf)
        if image_aspect_ratio not in ("pad", "square"):
            raise ConfigError(f"must be 'pad' (the recipe) or 'square' (the October script), got {image_aspect_ratio!r}", field="--image-aspect-ratio")
        extras = _parse_extra(extra)
        if image_aspect_ratio != "pad":
            if extras.get("image_aspect_ratio", image_aspect_ratio) != image_aspect_ratio:
                raise ConfigError(f"--extra image_aspect_ratio={extras['image_aspect_ratio']} contradicts --image-aspect-ratio {image_aspect_ratio}")
            extras["image_aspect_ratio"] = image_aspect_ratio
        from dataoptim.io import refuse_overwrite

        # the files a run writes are never the selection itself (before anything is read or written)
        written = (("llava_data.json", "command.sh", "zero2.json", "zero3.json") if backend is Backend.llava else
                   ("data_report.json", "train_report.json", "config.json", "tokenizer.model", "tokenizer_config.json", "trainer_state.json",
                    "trained_with.json", "generation_config.json", "preprocessor_config.json", "special_tokens_map.json", "tokenizer.json",
                    "added_tokens.json", "chat_template.jinja", "processor_config.json", "model.safetensors", "training_args.bin"))
        where = run_dir if backend is Backend.llava and run_dir is not None else output_dir
        refuse_overwrite({f"{'--run-dir' if where is run_dir else '--output-dir'}'s {name}": where / name for name in written}, {"--data": data})
        if backend is not Backend.llava:  # the Trainer writes (and rotates away) checkpoint-N/ folders under --output-dir
            inside = Path(data).expanduser().resolve()
            root = Path(output_dir).expanduser().resolve()
            if root in inside.parents and inside.relative_to(root).parts[0].startswith("checkpoint-"):
                raise ConfigError(f"lies in {inside.relative_to(root).parts[0]}/ under --output-dir {output_dir}, which training writes "
                                  "(and may delete); put the selection elsewhere", file=data, field="--data")

        def say_frame_note() -> None:  # after the options are checked: a refused run prints its error line alone
            note = frame_note(data, pad=extras.get("image_aspect_ratio", "pad") == "pad")
            if note:
                typer.echo(note, err=True)

        if backend is Backend.llava:
            hf_only = {
                "--model": model != "tiny", "--max-steps": max_steps != -1, "--deepspeed": deepspeed is not None,
                "--per-device-train-batch-size": per_device_train_batch_size != 16,
                "--gradient-accumulation-steps": gradient_accumulation_steps != 1, "--learning-rate": learning_rate != 2e-5,
                "--model-max-length": model_max_length != 2048, "--dataloader-num-workers": dataloader_num_workers != 4,
                "--no-gradient-checkpointing": not gradient_checkpointing, "--image-position": image_position != "front",
                "--skip-bad-records": skip_bad_records, "--seed": seed != 42,
                "--strict-length": strict_length, "--token-average": token_average, "--llama-tokenizer": llama_tokenizer is not None,
                "--skip-bad-images": skip_bad_images, "--resume": resume,
            }
            used = [name for name, on in hf_only.items() if on]
            if used:
                raise ConfigError(
                    f"{', '.join(used)} apply to --backend hf only; the llava backend runs the recipe as is "
                    "(change a LLaVA flag explicitly with --extra FLAG=VALUE)"
                )
            if None in (llava_repo, model_name_or_path, pretrain_mm_mlp_adapter):
                raise ConfigError("--backend llava needs --llava-repo, --model-name-or-path and --pretrain-mm-mlp-adapter")
            from dataoptim.train.llava import launch, prepare_llava

            say_frame_note()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run = prepare_llava(
                    data, image_folder, llava_repo, model_name_or_path, pretrain_mm_mlp_adapter, output_dir,
                    run_dir=run_dir, num_gpus=num_gpus, lora=lora, qlora=qlora, vision_tower=vision_tower,
                    report_to=report_to, extra=extras, dry_run=dry_run, cache_dir=cache_dir,
                    allow_symlinks_out=allow_symlinks_out, decode_images=open_images,
                )
            for w in caught:
                typer.echo(f"warning: {w.message}", err=True)
            if dry_run:
                typer.echo(run.describe())
                return
            typer.echo(run.describe(), err=True)
            raise typer.Exit(launch(run))

        if llava_repo is not None or lora or qlora or extra or num_gpus is not None:
            raise ConfigError("--llava-repo, --lora, --qlora, --extra and --num-gpus apply to --backend llava only")
        from dataoptim.extras import require_extra

        require_extra("train", "dataoptim train --backend hf")  # before anything is read
        from dataoptim.io import check_output_dir
        from dataoptim.train.hf import check_settings

        check_settings(
            learning_rate=learning_rate, per_device_train_batch_size=per_device_train_batch_size,
            gradient_accumulation_steps=gradient_accumulation_steps, dataloader_num_workers=dataloader_num_workers,
            max_steps=max_steps, model_max_length=model_max_length,
        )
        check_output_dir(output_dir, what="checkpoint folder")
        say_frame_note()
        result = train(
            data, image_folder, output_dir, backend="hf", model=model, model_name_or_path=model_name_or_path,
            vision_tower=vision_tower, pretrain_mm_mlp_adapter=pretrain_mm_mlp_adapter, max_steps=max_steps,
            per_device_train_batch_size=per_device_train_batch_size,
            gradient_accumulation_steps=gradient_accumulation_steps, learning_rate=learning_rate,
            model_max_length=model_max_length, dataloader_num_workers=dataloader_num_workers, deepspeed=deepspeed,
            gradient_checkpointing=gradient_checkpointing, image_position=image_position, pad=image_aspect_ratio == "pad",
            skip_bad_records=skip_bad_records, open_images=open_images, cache_dir=cache_dir, seed=seed,
            strict_length=strict_length, loss_per_device=not token_average, llama_tokenizer=llama_tokenizer,
            allow_symlinks_out=allow_symlinks_out, skip_bad_images=skip_bad_images, resume=resume,
            report_to=report_to or "none", dry_run=dry_run,
            disable_tqdm=None if sys.stderr.isatty() else True,  # off a terminal: log lines, no progress bar
        )
        report = result.report
        get = report.get
        typer.echo(
            f"selection: {count(get('records', 0), 'record')} ({count(get('repeats', 0), 'repeat')}), {get('usable', 0):,} used, "
            f"{get('truncated', 0):,} truncated at {get('model_max_length', model_max_length)} positions, {get('masked', 0):,} masked by the recipe "
            f"({get('train_nothing', 0):,} {plural(get('train_nothing', 0), 'trains')} nothing), {get('dropped', 0):,} dropped; "
            f"{count(get('tokens', 0), 'token')} (longest {get('max_length', 0):,})"
            + (f"; {get('bad_images', 0):,} left out: image cannot be decoded (listed in data_report.json)" if get("bad_images", 0) else ""),
            err=True,
        )
        for row in get("truncated_records", [])[:5]:
            typer.echo(f"truncated: {row['id']} (record {row['index']}): {row['positions_before']} -> {row['positions_after']} positions", err=True)
        for row in get("masked_records", [])[:5]:
            typer.echo(f"masked: {row['id']} (record {row['index']}): {row['reason']}", err=True)
        if get("truncated", 0) > 5 or get("masked", 0) > 5:
            typer.echo("(all of them are listed in data_report.json)", err=True)
        if dry_run:
            typer.echo(f"dry run: would train and write the checkpoint to {output_dir}")
            return
        m = result.metrics
        typer.echo(
            f"trained {count(m.get('global_step') or 0, 'step')} in {m.get('train_runtime', 0):.1f} s: loss {m.get('train_loss', float('nan')):.4f}, "
            f"{m.get('train_samples_per_second')} samples/s, {m.get('tokens_per_second')} tokens/s; checkpoint in {result.output_dir}"
        )
