"""The dashboard's pages: the syncs, one sync's panels, its rejections, a payload preview.

Server-rendered HTML (templates/, Jinja2 with autoescaping); the only script is the charts'
(static/charts.js over the vendored uPlot), and every page reads without it. Ledger reads
run in Starlette's thread pool, never on the event loop. Only counts, shares, codes,
identifiers and hashed values reach a page: runs store no customer value (runstats.py), and
the payload preview masks what Meta takes unhashed (report.masked_event_json, as `check
--payloads` prints it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from capisync.capi import emq
from capisync.capi.personal import looks_personal
from capisync.errors import CapisyncError, ConfigError
from capisync.meta.quality import EventQuality
from capisync.quality import latest_quality
from capisync.serve.web import views

if TYPE_CHECKING:
    from capisync.serve.service import Service

HISTORY_RUNS = 30
"""Runs shown in a sync's history table and chart."""
REJECTION_EXAMPLES = 200
"""Identifiers listed per reason on a rejection's page (the count is always complete)."""
PREVIEW_EVENTS = 3
"""Events shown by the payload preview (built from a sample of the model, nothing sent)."""
PREVIEW_SAMPLE = 25

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""No inline script, no third-party origin: every asset is served by capisync."""

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["when"] = views.when
TEMPLATES.filters["pct"] = lambda share: f"{share:.0%}"


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page from templates/ with the security headers every dashboard page carries.
    ``logout`` (default False) shows the log-out button: pages behind the token set it."""
    context.setdefault("logout", False)
    html = TEMPLATES.get_template(name).render(**context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        },
    )


def not_found(service: Service, what: str) -> HTMLResponse:
    return render(
        "error.html",
        404,
        title="Not found",
        message=what,
        current=None,
        syncs=_names(service),
        logout=service.token is not None,
    )


def _names(service: Service) -> list[str]:
    return list(service.project.syncs)


def _sync_name(service: Service, request: Request) -> str | None:
    name = str(request.path_params["name"])
    return name if name in service.project.syncs else None


# -- the syncs -------------------------------------------------------------------------------


async def syncs_page(service: Service, request: Request) -> Response:
    rows = await run_in_threadpool(_sync_rows, service)
    return render(
        "syncs.html",
        title="Syncs",
        syncs=_names(service),
        logout=service.token is not None,
        rows=rows,
        current=None,
    )


def _sync_rows(service: Service) -> list[dict[str, Any]]:
    with service.ledger() as ledger:
        last = {s: ledger.runs(s, limit=1) for s in service.project.syncs}
    return [
        {
            "state": state,
            "last": next(iter(last.get(state.name, [])), None),
            "status": _status(state),
        }
        for state in service.sync_states()
    ]


def _status(state: Any) -> str:
    if state.running_run_id is not None:
        return "running"
    return "failing" if state.failing else "ok"


# -- run now ---------------------------------------------------------------------------------

STARTED_MESSAGES = {
    "started": "Run {run} started.",
    "already running": "A run of this sync is in progress already; it was not started twice.",
    "failed to start": "The run could not start; the sync's status says why.",
}


async def run_now(service: Service, request: Request) -> Response:
    """POST from the "Run now" button: start a run through Service, then show the sync."""
    name = _sync_name(service, request)
    if name is None:
        return not_found(service, "No sync by that name in the project file.")
    try:
        started = await service.start_run(name, trigger="dashboard")
    except ConfigError:
        return not_found(service, "No sync by that name in the project file.")
    query = f"started={quote(started.status)}"
    if started.run_id is not None:
        query += f"&run={started.run_id}"
    return RedirectResponse(f"/syncs/{quote(name)}?{query}#history", status_code=303)


def _notice(request: Request) -> str | None:
    """The message after "Run now", from a fixed set (no text from the URL is shown)."""
    template = STARTED_MESSAGES.get(request.query_params.get("started", ""))
    if template is None:
        return None
    run = request.query_params.get("run", "")
    return template.format(run=run if run.isdigit() else "").replace("  ", " ")


# -- one sync --------------------------------------------------------------------------------


async def sync_page(service: Service, request: Request) -> Response:
    name = _sync_name(service, request)
    if name is None:
        return not_found(service, "No sync by that name in the project file.")
    context = await run_in_threadpool(_sync_context, service, name)
    return render(
        "sync.html",
        title=name,
        syncs=_names(service),
        logout=service.token is not None,
        current=name,
        notice=_notice(request),
        formula=emq.FORMULA_TEXT,
        columns=views.HISTORY_COLUMNS,
        weights=emq.WEIGHTS,
        **context,
    )


def _sync_context(service: Service, name: str) -> dict[str, Any]:
    with service.ledger() as ledger:
        runs = ledger.runs(name, limit=HISTORY_RUNS)
        summary = ledger.rejection_summary(name, examples=5)
    runs = [_live(service, r) for r in runs]
    fetched_at, meta = _meta_figures(service, name)
    scores = {n: e.composite_score for n, e in meta.items() if e.composite_score is not None}
    state = next((s for s in service.sync_states() if s.name == name), None)
    return {
        "state": state,
        "status": _status(state) if state is not None else "ok",
        "last": runs[0] if runs else None,
        "rows": views.run_rows(runs),
        "chart": views.run_chart(runs),
        "coverage": views.coverage(runs, scores),
        "meta": meta,
        "meta_fetched_at": fetched_at,
        "fresh_last": views.freshness(runs, last=1),
        "fresh_all": views.freshness(runs, last=len(runs)),
        "runs_with_stats": views.runs_with_stats(runs),
        "dedup": views.dedup(runs),
        "summary": summary,
    }


def _live(service: Service, record: Any) -> Any:
    """A run still running in this process shows its live counts."""
    if record.status != "running":
        return record
    report = service.report_of(record.id)
    if report is None:
        return record
    record.counts = {k: int(v) for k, v in report.counts.items()}
    return record


def _meta_figures(service: Service, name: str) -> tuple[float | None, dict[str, EventQuality]]:
    """Meta's figures per event name from the last `capisync quality` fetch (or serve's daily
    one), with when it was fetched: the events sent with capisync's partner_agent when Meta
    gave those, else the whole dataset's. (None, {}) before the first fetch."""
    snapshot = latest_quality(service.project, name)
    if snapshot is None:
        return None, {}
    events = snapshot.agent_events or snapshot.events
    return snapshot.fetched_at, {e.event_name: e for e in events}


# -- rejections ------------------------------------------------------------------------------


async def rejections_page(service: Service, request: Request) -> Response:
    name = _sync_name(service, request)
    if name is None:
        return not_found(service, "No sync by that name in the project file.")
    query = request.query_params.get("identifier", "").strip()
    context = await run_in_threadpool(_rejections_context, service, name, query)
    return render(
        "rejections.html",
        title=f"{name}: rejections",
        syncs=_names(service),
        logout=service.token is not None,
        current=name,
        **context,
    )


def _rejections_context(service: Service, name: str, query: str) -> dict[str, Any]:
    personal = bool(query) and looks_personal(query)
    found: Any = None
    with service.ledger() as ledger:
        summary = ledger.rejection_summary(name, examples=10)
        if query and not personal:
            found = ledger.lookup(name, [query]).get(query)
    return {
        "summary": summary,
        # a query holding an email or phone is not shown back: identifiers never hold one
        "query": "" if personal else query,
        "personal": personal,
        "searched": bool(query),
        "found": found,
    }


async def rejection_page(service: Service, request: Request) -> Response:
    name = _sync_name(service, request)
    if name is None:
        return not_found(service, "No sync by that name in the project file.")
    code = str(request.path_params["code"])
    with_code = await run_in_threadpool(_rejection_group, service, name, code)
    if with_code is None:
        return not_found(service, "No rejected row of this sync has that reason now.")
    return render(
        "rejection.html",
        title=f"{name}: {code}",
        syncs=_names(service),
        logout=service.token is not None,
        current=name,
        group=with_code,
        meta=_meta_fields(with_code.reason),
    )


def _rejection_group(service: Service, name: str, code: str) -> Any:
    with service.ledger() as ledger:
        summary = ledger.rejection_summary(name, examples=REJECTION_EXAMPLES)
    return next((g for g in summary.groups if g.code == code), None)


def _meta_fields(reason: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Meta's code, subcode and trace id of a reason Meta gave, as (label, value)."""
    labels = (("meta_code", "Meta code"), ("meta_subcode", "Meta subcode"))
    fields = [(label, str(reason[k])) for k, label in labels if reason.get(k) is not None]
    if reason.get("fbtrace_id"):
        fields.append(("fbtrace_id", str(reason["fbtrace_id"])))
    return fields


# -- payload preview -------------------------------------------------------------------------


async def preview_page(service: Service, request: Request) -> Response:
    name = _sync_name(service, request)
    if name is None:
        return not_found(service, "No sync by that name in the project file.")
    try:
        events, counts = await run_in_threadpool(_preview, service, name)
        error = None
    except CapisyncError as exc:
        events, counts, error = [], {}, str(exc)
    return render(
        "preview.html",
        title=f"{name}: payload preview",
        syncs=_names(service),
        logout=service.token is not None,
        current=name,
        events=events,
        counts=counts,
        error=error,
        sample=PREVIEW_SAMPLE,
    )


def _preview(service: Service, name: str) -> tuple[list[str], dict[str, int]]:
    """A few events built from a sample of the model, as `capisync check --payloads --offline`
    builds them (nothing is sent, nothing recorded), masked as it prints them."""
    from capisync.checks import check_sync
    from capisync.report import masked_event_json

    result = check_sync(
        service.project, name, sample=PREVIEW_SAMPLE, connect=False, now=service.clock()
    )
    events = [masked_event_json(e) for e in result.payloads[:PREVIEW_EVENTS]]
    return events, dict(result.counts)
