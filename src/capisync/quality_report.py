"""What `capisync quality` shows: Meta's figures per event name, as a table or as JSON.

Beside Meta's EMQ it shows capisync's estimate (``capi.emq``) computed from the coverage
Meta itself reports, so a person sees how far the model is from Meta's score. Only Meta's
figures and texts are shown: Meta answers with shares and counts, never customer values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from capisync.capi import emq
from capisync.capi.dataset_quality import USER_DATA_KEYS
from capisync.meta.quality import EventQuality
from capisync.state.quality import QualitySnapshot

EMQ_AIM = 6.0  # Meta's guidance, and the seed users': aim for 6+ of 10


def estimate_from_meta(event: EventQuality) -> float | None:
    """capisync's estimate (``capi.emq``) from the coverage Meta reports per key; None when
    Meta reported none."""
    coverage = {
        USER_DATA_KEYS[m.identifier]: m.coverage / 100.0
        for m in event.match_keys
        if m.identifier in USER_DATA_KEYS and m.coverage is not None
    }
    if not coverage:
        return None
    return emq.estimate_from_coverage({k: min(1.0, max(0.0, v)) for k, v in coverage.items()})


def snapshot_json(snapshot: QualitySnapshot) -> dict[str, Any]:
    """A snapshot as `--json` prints it: Meta's figures plus capisync's estimate per event."""
    body = snapshot.as_dict()
    for key, events in (("events", snapshot.events), ("agent_events", snapshot.agent_events)):
        for raw, event in zip(body[key], events, strict=True):
            raw["capisync_estimate"] = estimate_from_meta(event)
    return body


def print_quality_json(console: Console, snapshots: list[QualitySnapshot]) -> None:
    text = orjson.dumps([snapshot_json(s) for s in snapshots], option=orjson.OPT_INDENT_2)
    console.print(text.decode(), markup=False, highlight=False, soft_wrap=True)


def print_quality(console: Console, snapshot: QualitySnapshot) -> None:
    """One sync's figures: a table per event name, then Meta's diagnostics."""
    when = datetime.fromtimestamp(snapshot.fetched_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    console.print(
        Text.assemble(
            (snapshot.sync, "bold"),
            f": dataset {snapshot.dataset_id}, Meta's Dataset Quality API {snapshot.api_version}, "
            f"fetched {when}",
        )
    )
    if not snapshot.events:
        console.print(
            "  Meta has no figures for web events of this dataset yet (EMQ is for web events: "
            "action_source website; figures cover the last 7 days)"
        )
        return
    console.print(_table(snapshot))
    for event in snapshot.events:
        for d in event.diagnostics:
            share = f" ({d.percentage:g}% of events)" if d.percentage is not None else ""
            console.print(Text(f"  {event.event_name}: {d.name}{share}"))
            if d.solution:
                console.print(Text(f"    how to fix: {d.solution}", style="dim"))
    console.print(
        Text(
            "  estimate: capisync's EMQ model applied to the coverage Meta reports "
            "(docs/quality.md); via: only the events sent with capisync's partner_agent",
            style="dim",
        )
    )


def _table(snapshot: QualitySnapshot) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", padding=(0, 1))
    table.add_column("event", no_wrap=True)
    table.add_column("EMQ", justify="right")
    table.add_column(f"via {snapshot.agent_name or 'agent'}", justify="right")
    table.add_column("estimate", justify="right")
    table.add_column("match keys (coverage %)")
    table.add_column("coverage %", justify="right")
    table.add_column("ACR %", justify="right")
    table.add_column("event_id %", justify="right")
    table.add_column("freshness")
    for event in snapshot.events:
        via = snapshot.event(event.event_name, agent=True)
        table.add_row(
            event.event_name,
            _score(event.composite_score),
            _score(via.composite_score if via else None),
            _number(estimate_from_meta(event)),
            ", ".join(f"{m.identifier} {_number(m.coverage)}" for m in event.match_keys),
            _number(event.event_coverage),
            _number(event.acr),
            _number(_server_event_ids(event)),
            event.upload_frequency or "-",
        )
    return table


def _server_event_ids(event: EventQuality) -> float | None:
    """The share of server events with an event_id: 0 means the pixel cannot deduplicate."""
    key = next((d for d in event.dedup_keys if d.dedupe_key == "event_id"), None)
    return key.server_events if key else None


def _score(value: float | None) -> Text:
    if value is None:
        return Text("-")
    return Text(f"{value:.1f}", style="green" if value >= EMQ_AIM else "yellow")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
