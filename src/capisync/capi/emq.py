"""Event Match Quality (EMQ): the one model of match-key quality capisync uses.

Meta scores each web event name 0-10 in Events Manager and in the Dataset Quality API
(``event_match_quality.composite_score``). Meta publishes **no per-key weights** and no
formula; what it does publish is guidance on which customer information parameters matter:

- "Best Practices - Conversions API" and "Customer Information Parameters": email (``em``),
  phone (``ph``), IP address (``client_ip_address``) and first + last name (``fn`` + ``ln``)
  are the high-quality match keys; send ``fbc`` (the click ID) on every event where there is
  one; send ``client_ip_address`` and ``client_user_agent`` on every website event
  (``client_user_agent`` is required for ``action_source=website``).
- "Parameter Builder Library": ``fbc``, ``fbp`` and IP coverage raise EMQ.
- The Dataset Quality API reports per key a ``coverage.percentage``: the share of events
  carrying it. EMQ grows with that share.

So the weights in :data:`MATCH_KEYS` are capisync's, not Meta's: they only rank the keys in
the order of Meta's guidance (high-quality keys first, the web pair and browser IDs next,
the geographic and demographic keys last, as they only narrow a name match). The estimate is
a guide to compare setups and spot regressions, not a prediction of Meta's figure;
``capisync quality`` fetches Meta's own score to put beside it.

Pure: no I/O, no clock. The dashboard shows :data:`FORMULA_TEXT` verbatim; the sandbox's
Dataset Quality API scores each event it received with :func:`event_score` and averages
them, while :func:`estimate_from_coverage` works from coverage shares, so the two differ a
little (the curve is concave: the average of event scores is at most the score of the
average coverage), as capisync's estimate and Meta's figure do.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

Tier = Literal["high", "web", "browser", "supporting"]


@dataclass(frozen=True, slots=True)
class MatchKey:
    """One match key as capisync scores it.

    ``name`` is the identifier shown everywhere (``"fn+ln"`` for the name pair); ``params``
    are the ``user_data`` keys an event must all carry for the key to count; ``weight`` is
    capisync's (Meta publishes none); ``reason`` and ``source`` say why it ranks where it
    does and which Meta page the ranking follows.
    """

    name: str
    params: tuple[str, ...]
    weight: float
    tier: Tier
    reason: str
    source: str


_BEST_PRACTICES: Final = "Meta, Best Practices - Conversions API; Customer Information Parameters"
_WEB: Final = "Meta, Parameters (website events require client_user_agent); Best Practices"
_BUILDER: Final = "Meta, Parameter Builder Library (fbc, fbp, IP coverage raise EMQ)"
_SUPPORTING: Final = "Meta, Customer Information Parameters (normalize, then hash)"

MATCH_KEYS: Final[tuple[MatchKey, ...]] = (
    MatchKey("em", ("em",), 3.0, "high", "Meta names email a high-quality key", _BEST_PRACTICES),
    MatchKey("ph", ("ph",), 3.0, "high", "Meta names phone a high-quality key", _BEST_PRACTICES),
    MatchKey(
        "client_ip_address",
        ("client_ip_address",),
        2.0,
        "high",
        "Meta names IP address a high-quality key and wants it on every web event",
        _BEST_PRACTICES,
    ),
    MatchKey(
        "fn+ln",
        ("fn", "ln"),
        2.0,
        "high",
        "first and last name together are a high-quality key; one alone hardly matches",
        _BEST_PRACTICES,
    ),
    MatchKey("fbc", ("fbc",), 2.0, "browser", "Meta wants the click ID on every event", _BUILDER),
    MatchKey(
        "external_id",
        ("external_id",),
        1.5,
        "high",
        "a stable ID matches when the pixel sends the same one",
        _BEST_PRACTICES,
    ),
    MatchKey(
        "client_user_agent",
        ("client_user_agent",),
        1.0,
        "web",
        "Meta wants IP + user agent on every web event; alone it identifies no one",
        _WEB,
    ),
    MatchKey(
        "fbp", ("fbp",), 1.0, "browser", "the browser ID ties a server event to the pixel", _BUILDER
    ),
    MatchKey("zp", ("zp",), 0.5, "supporting", "narrows a name match", _SUPPORTING),
    MatchKey("ct", ("ct",), 0.5, "supporting", "narrows a name match", _SUPPORTING),
    MatchKey("st", ("st",), 0.5, "supporting", "narrows a name match", _SUPPORTING),
    MatchKey("country", ("country",), 0.5, "supporting", "narrows a name match", _SUPPORTING),
    MatchKey("db", ("db",), 0.5, "supporting", "narrows a name match", _SUPPORTING),
    MatchKey("ge", ("ge",), 0.5, "supporting", "narrows a name match", _SUPPORTING),
)
"""The scored match keys, highest weight first."""

MATCH_KEY_NAMES: Final[tuple[str, ...]] = tuple(k.name for k in MATCH_KEYS)
WEIGHTS: Final[Mapping[str, float]] = {k.name: k.weight for k in MATCH_KEYS}
SCALE: Final = 5.0
"""S at which the estimate reaches 10 x (1 - 1/e), about 6.3: em + ph at full coverage
(S = 6) gives 7.0, the six keys Meta names first (S = 13) 9.3."""

FORMULA_TEXT: Final = (
    "EMQ estimate = 10 × (1 − e^(−S / 5)), rounded to one decimal, where "
    "S = Σ weight(key) × coverage(key) and coverage is the share (0 to 1) of events carrying "
    "the key. Weights: em 3, ph 3, client_ip_address 2, fn+ln 2 (both names present), fbc 2, "
    "external_id 1.5, client_user_agent 1, fbp 1, zp/ct/st/country/db/ge 0.5 each. "
    "Meta publishes no per-key weights: these rank Meta's guidance (email, phone, IP address "
    "and first + last name are high-quality keys; fbc on every event; IP address and user "
    "agent on every web event). The estimate is a guide, not Meta's score."
)


def identifiers(keys: Collection[str]) -> frozenset[str]:
    """The scored match keys an event carries, from its ``user_data`` key names.

    ``keys``: the ``user_data`` keys present with a value (``{"em", "fn", "ln"}``); a name
    from :data:`MATCH_KEY_NAMES` (``"fn+ln"``) also counts. Unscored keys are ignored.
    Returns names from :data:`MATCH_KEY_NAMES` (``{"em", "fn+ln"}``).
    """
    present = set(keys)
    return frozenset(
        k.name for k in MATCH_KEYS if k.name in present or all(p in present for p in k.params)
    )


def key_weight(param: str) -> float:
    """The weight one ``user_data`` key carries: its match key's, shared among the keys that
    make it (``fn`` and ``ln`` carry half of ``fn+ln``'s each); 0 for an unscored key."""
    for key in MATCH_KEYS:
        if param in key.params:
            return key.weight / len(key.params)
    return 0.0


def _curve(total_weight: float) -> float:
    score = 10.0 * (1.0 - math.exp(-total_weight / SCALE))
    return math.floor(score * 10.0 + 0.5) / 10.0


def event_score(keys: Collection[str]) -> float:
    """The EMQ estimate (0-10, one decimal) of one event carrying ``keys``.

    ``keys`` as for :func:`identifiers`. The same formula as :func:`estimate_from_coverage`
    with each carried key at coverage 1 and the rest at 0.
    """
    return _curve(sum(WEIGHTS[name] for name in identifiers(keys)))


def estimate_from_coverage(coverage: Mapping[str, float]) -> float:
    """The EMQ estimate (0-10, one decimal) of events with the given match-key coverage.

    ``coverage`` maps a name from :data:`MATCH_KEY_NAMES` (or a ``user_data`` key) to the
    share 0..1 of events carrying it; missing keys count as 0, others are ignored. Without
    ``"fn+ln"``, the pair counts at ``min(fn, ln)``, the most both names can cover.

    Formula (:data:`FORMULA_TEXT`): ``10 * (1 - exp(-S / SCALE))`` with
    ``S = sum(weight[key] * coverage[key])``, rounded half up to one decimal. Monotone in
    each coverage, 0 with no coverage, never above 10.

    Raises ``ValueError`` naming the key when a share is not a number in 0..1.
    """
    for key, share in coverage.items():
        if not 0.0 <= share <= 1.0:  # also refuses NaN
            raise ValueError(
                f"coverage of {key!r} is {share!r}: give the share of events, 0 to 1 (e.g. 0.85)"
            )
    total = 0.0
    for match_key in MATCH_KEYS:
        if match_key.name in coverage:
            share = coverage[match_key.name]
        else:
            share = min((coverage.get(p, 0.0) for p in match_key.params), default=0.0)
        total += match_key.weight * share
    return _curve(total)


def coverage_of(events: Iterable[Collection[str]]) -> dict[str, float]:
    """The coverage of each scored match key over ``events`` (each: the ``user_data`` keys it
    carries). Returns every name of :data:`MATCH_KEY_NAMES` with its share 0..1; all 0 when
    there are no events."""
    counts = dict.fromkeys(MATCH_KEY_NAMES, 0)
    n = 0
    for keys in events:
        n += 1
        for name in identifiers(keys):
            counts[name] += 1
    return {name: (count / n if n else 0.0) for name, count in counts.items()}
