"""What the sandbox is told to be: its token, its datasets and the faults it injects.

A `SandboxConfig` is mutable on purpose: tests and the `/_sandbox/config` endpoint change it
while the server runs, and every request reads it afresh.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class SandboxConfig:
    access_token: str = "sandbox-token"
    app_secret: str | None = None  # when set, appsecret_proof must be present and right
    datasets: set[str] | None = None  # None: any all-digit dataset id exists
    latency_ms: float = 0  # every events POST is answered this long after it arrived, at least
    error_rate: float = 0.0  # share of POSTs answered HTTP 500, code 2, is_transient
    throttle_after: int | None = None  # more than N POSTs per window -> code 4 + Retry-After
    throttle_window_s: float = 60.0
    timeout_rate: float = 0.0  # share of POSTs that hang for hang_s before answering
    hang_s: float = 30.0
    token_expired: bool = False  # every Graph call answers 190/463
    seed: int = 0  # seeds the fault RNG; changing it reseeds
    clock: Callable[[], float] = field(default=time.time, repr=False)
    keep_events: bool = True  # False: count requests but keep no event bodies (long benchmarks)
    # events whose event_id is listed are refused as invalid data (100/2804019), whole batch,
    # as Meta refuses an event it will not take: exercises bisection and rejected-row tracking
    reject_event_ids: set[str] = field(default_factory=set)
    # a call to an expired Graph API version (by `clock`): "fail" answers code 2635, "upgrade"
    # serves it as the oldest version still served, as Meta documents both (see auth.py)
    expired_versions: Literal["fail", "upgrade"] = "fail"


_FLOAT_FIELDS = ("latency_ms", "throttle_window_s", "hang_s")
_RATE_FIELDS = ("error_rate", "timeout_rate")
_BOOL_FIELDS = ("token_expired", "keep_events")
EXPIRED_VERSION_ANSWERS = ("fail", "upgrade")
PATCHABLE = frozenset(f.name for f in dataclasses.fields(SandboxConfig)) - {"clock"}


def copy_config(config: SandboxConfig) -> SandboxConfig:
    """An independent copy (the dataset set is copied too)."""
    datasets = set(config.datasets) if config.datasets is not None else None
    return dataclasses.replace(
        config, datasets=datasets, reject_event_ids=set(config.reject_event_ids)
    )


def restore_config(config: SandboxConfig, baseline: SandboxConfig) -> None:
    """Put every field of `config` back to `baseline`, in place (others hold a reference)."""
    fresh = copy_config(baseline)
    for f in dataclasses.fields(SandboxConfig):
        setattr(config, f.name, getattr(fresh, f.name))


def patch_config(config: SandboxConfig, changes: Mapping[str, Any]) -> list[str]:
    """Apply a JSON patch to `config`. Returns the problems; nothing changes if there are any."""
    problems: list[str] = []
    coerced: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in PATCHABLE:
            problems.append(f"{name}: not a patchable sandbox setting")
            continue
        try:
            coerced[name] = _coerce(name, value)
        except (TypeError, ValueError) as exc:
            problems.append(f"{name}: {exc}")
    if not problems:
        for name, value in coerced.items():
            setattr(config, name, value)
    return problems


def _coerce(name: str, value: Any) -> Any:
    if name in _FLOAT_FIELDS:
        return _non_negative(value)
    if name in _RATE_FIELDS:
        rate = _non_negative(value)
        if rate > 1:
            raise ValueError("must be between 0 and 1")
        return rate
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise TypeError("must be true or false")
        return value
    return _coerce_other(name, value)


def _coerce_other(name: str, value: Any) -> Any:
    if name == "access_token":
        if not isinstance(value, str) or not value:
            raise TypeError("must be a non-empty string")
        return value
    if name == "app_secret":
        if value is not None and (not isinstance(value, str) or not value):
            raise TypeError("must be a non-empty string or null")
        return value
    if name == "datasets":
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(d, str | int) for d in value):
            raise TypeError("must be a list of dataset ids or null")
        return {str(d) for d in value}
    if name == "reject_event_ids":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TypeError("must be a list of event_id strings")
        return set(value)
    if name == "expired_versions":
        if value not in EXPIRED_VERSION_ANSWERS:
            raise ValueError(f"must be one of {', '.join(EXPIRED_VERSION_ANSWERS)}")
        return value
    if name == "throttle_after":
        if value is None:
            return None
        return _non_negative_int(value)
    return _non_negative_int(value)  # seed


def _non_negative(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("must be a number")
    if value < 0:
        raise ValueError("must not be negative")
    return float(value)


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("must be an integer")
    if value < 0:
        raise ValueError("must not be negative")
    return value


def public_view(config: SandboxConfig) -> dict[str, Any]:
    """The config as JSON, secrets masked (the sandbox token is fake, but habits matter)."""
    view = {name: getattr(config, name) for name in sorted(PATCHABLE)}
    view["access_token"] = "***"
    view["app_secret"] = None if config.app_secret is None else "***"
    view["datasets"] = None if config.datasets is None else sorted(config.datasets)
    view["reject_event_ids"] = sorted(config.reject_event_ids)
    return view
