"""The README lists every command and every option the `capisync` command has (walked from
the typer app itself, as sqlite-utils checks its docs), so an option added without a word in
the README fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer.core
import typer.main

from capisync.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


def commands_section() -> str:
    text = README.read_text()
    start = text.index("### Commands")
    return text[start : text.index("\n## ", start)]


def options(command: Any) -> list[str]:
    """Every option a command takes, as typed (`--port`, `-c`), and its environment variable."""
    found: list[str] = []
    for param in command.params:  # a typer command (typer vendors its click)
        if isinstance(param, typer.core.TyperOption) and "--help" not in param.opts:
            found += param.opts
            envvar = param.envvar
            found += [envvar] if isinstance(envvar, str) else list(envvar or [])
    return found


def test_every_command_has_its_row_in_the_readme() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    rows = [line for line in commands_section().splitlines() if line.startswith("| `capisync ")]
    for name in group.commands:
        assert any(row.startswith(f"| `capisync {name}") for row in rows), name


def test_every_option_and_environment_variable_is_in_the_readme() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    section = commands_section()
    missing = [
        f"{name} {option}"
        for name, command in [("capisync", group), *group.commands.items()]
        for option in options(command)
        if f"{option}" not in section
    ]
    assert not missing, f"options not in README.md's Commands section: {missing}"
    row = {
        name: next(line for line in section.splitlines() if line.startswith(f"| `capisync {name}"))
        for name in group.commands
    }
    shared = {"--config", "-c", "CAPISYNC_CONFIG"}  # described once, below the table
    for name, command in group.commands.items():
        for option in set(options(command)) - shared:
            assert option in row[name], f"capisync {name} {option} is not in its row"
