"""Every command's --help shows its texts as written (issue 12, point 5).

Rich markup used to eat ``[llava]``/``[hf]`` tags and the ``[deepspeed]`` of
``dataoptim[deepspeed]``; flags showed a ``<bool>`` value; texts cited design
sections users do not have. This walks every command of the CLI.
"""

from __future__ import annotations

import pytest
import typer

from dataoptim.cli import _load_areas, app, main


def _commands():
    _load_areas()
    root = typer.main.get_command(app)
    out = []

    def walk(command, path):
        if hasattr(command, "commands"):  # a group (typer may bundle its own click)
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        out.append((path, command))

    walk(root, [])
    return out


COMMANDS = _commands()


def test_the_walk_finds_the_commands():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"train", "evaluate", "score", "validate", "select", "pool build", "demo", "compare"} <= names


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "dataoptim" for p, _ in COMMANDS])
def test_help_shows_every_text_as_written(path, command, capsys):
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    flat = "".join(out.split())
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            assert "".join(text.split()) in flat, f"{' '.join(path)} {param.opts}: help text changed in --help: {text!r}"
    if command.help:
        first = command.help.split("\n\n")[0]
        assert "".join(first.split()) in flat, f"{' '.join(path)}: command help changed: {first!r}"
    assert "<bool>" not in out, "a flag shows a value type"
    assert "DESIGN" not in out and "§" not in out, "help cites a design section users do not have"
    assert "\\[" not in out, "a markup escape shows"


def test_train_help_keeps_backend_tags_and_extras(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    assert out.count("[llava]") >= 6 and out.count("[hf]") >= 10
    assert "dataoptim[deepspeed]" in flat
    for flag in ("--lora ", "--qlora ", "--dry-run ", "--allow-symlinks-out "):
        line = next(line for line in out.splitlines() if line.strip().startswith(flag.strip()))
        assert "<" not in line.split(flag.strip(), 1)[1].split("  ")[0], f"{flag} shows a value: {line!r}"
