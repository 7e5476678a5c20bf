"""The compiled core gives exactly what its Python source gives.

The README's install compiles capisync.capi with mypyc (setup.py), so these tests run against
C extensions built from the source files. This test runs the same inputs through the source
files under src/, interpreted in a fresh Python, and compares every output: normalized and
hashed values of the SDK differential corpus, and whole events (JSON, warnings, reasons) of
the benchmark's messy rows, row by row and batched.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

import capisync.capi.batch
from capisync.capi.event import BuildOptions, BuiltEvent, EventBuilder, Rejection
from capisync.capi.mapping import resolve_mapping
from capisync.capi.normalize import NormalizeContext, hash_value, normalize, user_data_value

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src"
ROWS = 3000


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def _outcome(outcome: BuiltEvent | Rejection) -> list[Any]:
    if isinstance(outcome, Rejection):
        return ["rejected", outcome.identifier, [(r.code, r.message) for r in outcome.reasons],
                [(w.code, w.message) for w in outcome.warnings], outcome.expired]
    return ["built", outcome.identifier, outcome.event_id, orjson.dumps(outcome.event).decode(),
            [(w.code, w.message) for w in outcome.warnings], sorted(outcome.match_keys)]


def core_outputs() -> dict[str, Any]:
    """What the core makes of a fixed set of inputs, in JSON-able form."""
    differential = _load(ROOT / "tests" / "unit" / "test_sdk_differential.py", "sdk_corpus")
    values = []
    for case in differential.corpus():
        warnings: list[Any] = []
        wire = user_data_value(case.key, case.value, NormalizeContext(country=case.country),
                               warnings)
        values.append([case.key, case.value, case.country,
                       normalize(case.key, case.value, country=case.country),
                       hash_value(case.key, case.value, country=case.country),
                       wire, [w.code for w in warnings]])
    data = _load(ROOT / "bench" / "data.py", "bench_data")
    mapping = resolve_mapping(data.COLUMNS, identifier="order_id",
                              explicit={"client_user_agent": "user_agent",
                                        "event_source_url": "page_url"})
    options = BuildOptions(default_country="us", event_id_template="{event_name}:{order_id}")
    rows = [row for batch in data.messy_batches(ROWS, 500) for row in batch]
    one_by_one = EventBuilder(mapping, options)
    batched = EventBuilder(mapping, options)
    return {
        "compiled": capisync.capi.batch.__file__.endswith(".so"),
        "values": values,
        "rows": [_outcome(one_by_one.build(row, now=data.NOW_EPOCH)) for row in rows],
        "batches": [_outcome(o) for start in range(0, ROWS, 500)
                    for o in batched.build_batch(rows[start:start + 500], now=data.NOW_EPOCH)],
    }


def _source_outputs() -> dict[str, Any]:
    """core_outputs() in a fresh interpreter that imports capisync from src/, not the install."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(SOURCE)!r})\n"
        "import importlib.util, orjson\n"
        f"spec = importlib.util.spec_from_file_location('core_test', {__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "sys.stdout.buffer.write(orjson.dumps(module.core_outputs()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                          timeout=300)
    return orjson.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_installed_core_and_its_python_source_agree_on_every_output() -> None:
    installed = orjson.loads(orjson.dumps(core_outputs()))  # tuples as lists, like the other
    source = _source_outputs()
    assert source["compiled"] is False, "src/ holds compiled modules: see CONTRIBUTING in README"
    assert len(installed["values"]) > 1000 and len(installed["rows"]) == ROWS
    assert {o[0] for o in installed["rows"]} == {"built", "rejected"}
    assert installed["rows"] == installed["batches"]
    for key in ("values", "rows", "batches"):
        for ours, theirs in zip(installed[key], source[key], strict=True):
            assert ours == theirs
