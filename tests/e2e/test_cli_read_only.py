"""Read-only commands write nothing, lock files do not pile up, and a secret written in the
project file is warned about by name: `runs` and `rejections` before the first run create no
`.capisync/` and no ledger, and say so; any number of runs of a sync leave one lock file per
sync and kind (real runs, test runs); `check` and `run` name a token written in the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capisync.cli import app
from capisync.sandbox import SandboxServer

runner = CliRunner()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAPISYNC_BASE_URL", sandbox.url)
    assert runner.invoke(app, ["init", "."]).exit_code == 0
    return tmp_path


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(
    "command",
    [["runs"], ["runs", "purchases"], ["rejections", "purchases"], ["runs", "--limit", "3"]],
)
def test_read_only_commands_before_any_run_create_nothing(
    project: Path, command: list[str]
) -> None:
    before = files(project)
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "no runs yet (the ledger .capisync/state.db does not exist)" in result.output
    assert files(project) == before and not (project / ".capisync").exists()


def test_a_ledger_file_named_by_a_sqlite_url_is_not_created_either(project: Path) -> None:
    config = project / "capisync.yml"
    text = config.read_text()
    assert "state:\n" in text
    config.write_text(text.replace("state:\n", "state:\n  url: sqlite:///elsewhere/l.db\n", 1))
    result = runner.invoke(app, ["rejections", "purchases"])
    assert result.exit_code == 0, result.output
    assert "no runs yet (the ledger elsewhere/l.db does not exist)" in result.output
    assert not (project / "elsewhere").exists()


def test_after_a_run_the_history_is_shown(project: Path) -> None:
    assert runner.invoke(app, ["run", "--limit", "5"]).exit_code == 0
    result = runner.invoke(app, ["runs"])
    assert result.exit_code == 0 and "no runs yet" not in result.output


def test_runs_of_every_kind_leave_one_lock_file_per_sync_and_kind(project: Path) -> None:
    for n in range(4):
        result = runner.invoke(app, ["run", "--test-event-code", f"TEST{n}", "--limit", "3"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["run", "--limit", "3"])
        assert result.exit_code == 0, result.output
    locks = sorted(p.name for p in (project / ".capisync").glob("*.lock"))
    assert locks == ["state.db.purchases.lock", "state.db.purchases.test-run.lock"]


def test_lock_files_are_one_per_name_and_never_shared() -> None:
    from capisync.state.locks import lock_file

    ledger = Path("/x/state.db")
    names = ["a", "a:test-run", "a.test-run", "a_test-run", "a/b", "a?b", "a b", "été"]
    paths = [lock_file(ledger, name) for name in names]
    assert len(set(paths)) == len(names)  # no two syncs (or kinds) share a file
    assert all(p.parent == ledger.parent and "/" not in p.name for p in paths)
    assert [lock_file(ledger, n) for n in names] == paths  # stable: the same file every run


@pytest.mark.parametrize("command", [["check", "--offline", "--sample", "5"], ["run", "--dry-run"]])
def test_a_token_written_in_the_file_is_warned_about_by_name(
    project: Path, command: list[str]
) -> None:
    config = project / "capisync.yml"
    text = config.read_text()
    line = next(x for x in text.splitlines() if "access_token:" in x)
    config.write_text(text.replace(line, line.split(":")[0] + ': "EAAB-written-here"'))
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "warning: capisync.yml: syncs.purchases.destination.access_token: written" in (
        result.output
    )
    assert "EAAB-written-here" not in result.output
