"""The compiled core gives exactly what its Python source gives.

The README's install compiles capisync.capi with mypyc (setup.py), so these tests run against
C extensions built from the source files. This test runs the same inputs through the source
files under src/, interpreted in a fresh Python, and compares every output: normalized and
hashed values of the SDK differential corpus, whole events (JSON, warnings, reasons) of the
benchmark's messy rows, row by row and batched, and rows with odd Python values (bytes,
UUIDs, sets, NaN, huge integers, surrogates...) in every column.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from capisync.capi import is_compiled
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


class Opaque:
    """A type no coercer knows, printed the same in both processes."""

    def __str__(self) -> str:
        return "opaque"

    __repr__ = __str__


def odd_values() -> list[object]:
    """Cells a warehouse driver or a DataFrame can hand over, in any column."""
    return [
        None,
        "",
        " ",
        "N/A",
        "null",
        0,
        -1,
        1,
        2**70,
        -(2**70),
        1.5,
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("1e400"),
        Decimal("-0.00"),
        True,
        False,
        b"bytes",
        bytearray(b"ba"),
        uuid.UUID(int=7),
        datetime(2026, 5, 31, 12, 0),
        datetime(2026, 5, 31, 12, 0, tzinfo=UTC),
        date(2026, 5, 31),
        time(12, 30),
        timedelta(hours=1),
        ["a@b.co", "C@D.co"],
        ("x",),
        {"k": "v"},
        frozenset({"a"}),
        [[1]],
        [],
        Opaque(),
        '["+33 6 12 34 56 78", "0612345678"]',
        "\ud800",
        "０６ １２",
        "x" * 10_000,
        "\u00a0US\u00a0",
        "1699999999",
        "1699999999999",
        "2026-05-31T12:00:00Z",
        # numbers no float or str() holds, and Unicode look-alikes (issue 8, section 6)
        Decimal("sNaN"),
        Decimal("1E+5000"),
        Decimal("1E+999999"),
        10**4301,
        2**1100,
        memoryview(b"mv"),
        "a\x00b",
        "650\u2013555\u20131212",
        "\uff11\uff12\uff13\uff14\uff15",
        "\uff2a\uff2f\uff28\uff2e",
    ]


# A row of every other parameter family, by the parameters' own names (mapped by name).
EVERY_KIND: dict[str, object] = {
    "order_id": "k-1",
    "event_name": "Purchase",
    "event_time": datetime(2026, 5, 31, 12),
    "action_source": "app",
    "external_id": ["u-1", "U-1 "],
    "db": "2/16/1997",
    "ge": "Female",
    "fbc": "fb.1.1554763741205.AbCdEfGh",
    "fbp": "fb.1.1596403881668.1116446470",
    "client_ip_address": "2001:DB8::1",
    "madid": "AB-12",
    "anon_id": "a-1",
    "app_data": '{"advertiser_tracking_enabled": "1", "extinfo": ["i2", "com.x", "", "", "17"'
    + ', ""' * 11
    + "]}",
    "opt_out": "yes",
    "data_processing_options": '["LDU"]',
    "data_processing_options_country": 1,
    "data_processing_options_state": "1000",
    "referrer_url": "https://r.example/",
    "original_event_data": '{"event_name": "Purchase", "event_time": 1780000000}',
    "messaging_channel": "whatsapp",
    "customer_segmentation": "existing_customer",
    "value": Decimal("12.50"),
    "currency": "eur",
    "predicted_ltv": 3,
    "net_revenue": "10.5",
    "content_ids": '["a", "b"]',
    "contents": '[{"id": "a", "quantity": 2, "item_price": 5}]',
    "num_items": 2.0,
    "content_type": "Product",
    "delivery_category": "Home_Delivery",
    "points": 7,
}


def _odd_rows(base: dict[str, object], columns: tuple[str, ...]) -> list[dict[str, object]]:
    return [
        {**base, column: value, "order_id": f"odd-{i}-{column}"}
        for column in columns
        if column != "order_id"
        for i, value in enumerate(odd_values())
    ]


def _guarded(build: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return build(*args, **kwargs)
    except Exception as exc:  # the same exception, or none, on both sides
        return exc


def _outcome(outcome: BuiltEvent | Rejection | Exception) -> list[Any]:
    if isinstance(outcome, Exception):
        return ["raised", type(outcome).__name__]
    if isinstance(outcome, Rejection):
        return [
            "rejected",
            outcome.identifier,
            [(r.code, r.message) for r in outcome.reasons],
            [(w.code, w.message) for w in outcome.warnings],
            outcome.expired,
        ]
    return [
        "built",
        outcome.identifier,
        outcome.event_id,
        _json(outcome.event),
        [(w.code, w.message) for w in outcome.warnings],
        sorted(outcome.match_keys),
    ]


def _json(event: dict[str, Any]) -> str:
    try:
        return orjson.dumps(event).decode()
    except orjson.JSONEncodeError:  # a lone surrogate: MetaClient sets such an event aside
        return "unencodable"


def core_outputs() -> dict[str, Any]:
    """What the core makes of a fixed set of inputs, in JSON-able form."""
    differential = _load(ROOT / "tests" / "unit" / "test_sdk_differential.py", "sdk_corpus")
    values = []
    for case in differential.corpus():
        warnings: list[Any] = []
        wire = user_data_value(
            case.key, case.value, NormalizeContext(country=case.country), warnings
        )
        values.append(
            [
                case.key,
                case.value,
                case.country,
                normalize(case.key, case.value, country=case.country),
                hash_value(case.key, case.value, country=case.country),
                wire,
                [w.code for w in warnings],
            ]
        )
    data = _load(ROOT / "bench" / "data.py", "bench_data")
    mapping = resolve_mapping(
        data.COLUMNS,
        identifier="order_id",
        explicit={"client_user_agent": "user_agent", "event_source_url": "page_url"},
    )
    options = BuildOptions(default_country="us", event_id_template="{event_name}:{order_id}")
    rows = [row for batch in data.messy_batches(ROWS, 500) for row in batch]
    one_by_one = EventBuilder(mapping, options)
    batched = EventBuilder(mapping, options)
    odd = _odd_rows(rows[0], data.COLUMNS)
    odd_batch = _guarded(EventBuilder(mapping, options).build_batch, odd, now=data.NOW_EPOCH)
    every = resolve_mapping(
        tuple(EVERY_KIND), identifier="order_id", explicit={"custom_data.points": "points"}
    )
    every_builder = EventBuilder(every, BuildOptions(default_country="fr"))
    odd_kinds = _odd_rows(EVERY_KIND, tuple(EVERY_KIND))
    return {
        "compiled": is_compiled(),
        "values": values,
        "rows": [_outcome(one_by_one.build(row, now=data.NOW_EPOCH)) for row in rows],
        "batches": [
            _outcome(o)
            for start in range(0, ROWS, 500)
            for o in batched.build_batch(rows[start : start + 500], now=data.NOW_EPOCH)
        ],
        "odd rows": [_outcome(_guarded(one_by_one.build, row, now=data.NOW_EPOCH)) for row in odd],
        "odd batch": _outcome(odd_batch)
        if isinstance(odd_batch, Exception)
        else [_outcome(o) for o in odd_batch],
        "odd kinds": [
            _outcome(_guarded(every_builder.build, row, now=data.NOW_EPOCH)) for row in odd_kinds
        ],
    }


def _source_outputs() -> dict[str, Any]:
    """core_outputs() in a fresh interpreter that imports capisync from src/, not the install."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(SOURCE)!r})\n"
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('core_test', {__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "sys.stdout.write(repr(module.core_outputs()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, timeout=300, text=True
    )
    return ast.literal_eval(done.stdout)  # type: ignore[no-any-return]


def test_the_installed_core_and_its_python_source_agree_on_every_output() -> None:
    installed = core_outputs()
    source = _source_outputs()
    assert source["compiled"] is False, (
        "src/ holds compiled modules (an editable install that compiled): reinstall with "
        "CAPISYNC_PURE_PYTHON=1, see 'The compiled core' in the README"
    )
    pure_on_purpose = os.environ.get("CAPISYNC_PURE_PYTHON") == "1"  # a bool: pytest would
    assert installed["compiled"] or pure_on_purpose, (  # print all of os.environ, tokens too
        "the installed core is interpreted: the install found no working C compiler "
        "(pip install -v says why); set CAPISYNC_PURE_PYTHON=1 to test that on purpose"
    )
    assert len(installed["values"]) > 1000 and len(installed["rows"]) == ROWS
    assert {o[0] for o in installed["rows"]} == {"built", "rejected"}
    assert installed["rows"] == installed["batches"]
    assert {o[0] for o in installed["odd kinds"]} == {"built", "rejected"}
    for key in ("values", "rows", "batches", "odd rows", "odd batch", "odd kinds"):
        for ours, theirs in zip(installed[key], source[key], strict=True):
            assert ours == theirs
