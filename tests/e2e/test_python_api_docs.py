"""docs/python-api.md does what it says: its Python examples run (in a `capisync init`
folder, against the sandbox; the Airflow and Dagster ones compile), and its tables agree with
the code (every RunReport field, each exception's exit code, the exit-code table, the
Kubernetes example's codes)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from capisync import errors
from capisync.demo import DEMO_EXPECTED, write_demo_project
from capisync.sandbox import SandboxServer
from capisync.sync import RunReport

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"
ORCHESTRATORS = ("airflow", "dagster")  # not dependencies of capisync: compiled, not run


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def table_rows(heading: str) -> list[list[str]]:
    """The cells of the first table after the line starting with `heading`."""
    text = DOC.read_text()
    rows = []
    for line in text[text.index(heading) :].splitlines()[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
        elif rows:
            break
    return rows[1:]  # past the |---| line under the header


def test_the_python_examples_run_against_the_sandbox(
    tmp_path: Path,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_demo_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAPISYNC_BASE_URL", sandbox.url)
    namespace: dict[str, object] = {"__name__": "docs_example"}
    ran = compiled = 0
    for number, code in enumerate(blocks("python")):
        program = compile(code, f"python-api.md block {number}", "exec")
        if any(re.search(rf"^(from|import) {name}\b", code, re.M) for name in ORCHESTRATORS):
            compiled += 1
            continue
        exec(program, namespace)
        ran += 1
    assert ran >= 4 and compiled == 3
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"completed 1 {DEMO_EXPECTED['sent']} {DEMO_EXPECTED['rejected']}")
    # the later examples find every row settled by the first: nothing more to send
    assert printed[-1] == "completed 0"


def test_every_run_report_field_is_documented() -> None:
    documented = {row[0].strip("`") for row in table_rows("| field | type | meaning |")}
    fields = {f.name for f in dataclasses.fields(RunReport)} | {"ok"}
    assert fields <= documented, fields - documented


def test_the_exceptions_table_matches_the_classes() -> None:
    rows = table_rows("| exception | exit code | retryable | raised when |")
    assert len(rows) >= 7
    for names, code, retryable, _ in rows:
        for name in re.findall(r"`(\w+)`", names):
            cls = getattr(errors, name)
            assert (cls.exit_code, cls.retryable) == (int(code), retryable == "yes"), name


def test_the_exit_code_table_is_the_one_capisync_exits_with() -> None:
    rows = table_rows("| code | retryable | meaning |")
    documented = {int(code): (retryable == "yes", meaning) for code, retryable, meaning in rows}
    assert documented == {e.code: (e.retryable, e.meaning) for e in errors.EXIT_CODES}


def test_the_kubernetes_example_fails_the_job_on_exactly_the_codes_a_person_must_act_on() -> None:
    (cronjob,) = [yaml.safe_load(b) for b in blocks("yaml") if "CronJob" in b]
    job = cronjob["spec"]["jobTemplate"]["spec"]
    (rule,) = job["podFailurePolicy"]["rules"]
    signals = {errors.INTERRUPTED, errors.TERMINATED}  # a stop asked for: run again
    must_act = [e.code for e in errors.EXIT_CODES if not e.retryable and e.code not in signals]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["values"] == sorted(must_act)
    (container,) = job["template"]["spec"]["containers"]
    assert container["args"][:3] == ["--log-format", "json", "run"]
