"""The checks every Graph call passes before its body matters: version, token, proof, object.

Each returns the `GraphError` Meta would answer, or None; the version check also says which
version serves the call (Meta may upgrade a call to an expired version).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from capisync.capi import versions
from capisync.sandbox import graph_errors as errors
from capisync.sandbox.config import SandboxConfig
from capisync.sandbox.graph_errors import GraphError


@dataclass(frozen=True, slots=True)
class VersionRoute:
    """Which version serves a call: `served` (the `facebook-api-version` header), the extra
    headers of the answer, or the error Meta answers instead."""

    served: str
    error: GraphError | None = None
    headers: tuple[tuple[str, str], ...] = ()


def route_version(config: SandboxConfig, version: str, rest: str, now: float) -> VersionRoute:
    """Route a call by the date on the sandbox's clock (`now`, UNIX seconds), as Meta does.

    A released, unexpired version serves the call. An unknown or not yet released one is an
    unknown path (code 2500). An expired one, per `config.expired_versions`: "fail" answers
    code 2635 naming the newest version (Marketing API "Versioning": calls to an unavailable
    version "may fail or be upgraded to the next available version"); "upgrade" serves it as
    the oldest version still served (Graph API "Platform Versioning") with an
    `X-Ad-Api-Version-Warning` header (Meta's blog, 2024-04-16, on version auto-upgrade).
    """
    today = versions.day_of(now)
    state = versions.status_of(version, today)
    if state in ("unknown", "unreleased"):
        return VersionRoute(version, errors.unknown_path(f"/{version}{rest}"))
    if state == "current":
        return VersionRoute(version)
    if config.expired_versions == "fail":
        return VersionRoute(version, errors.deprecated_version(versions.newest(today).name))
    served = versions.oldest_available(today).name
    warning = f"{version} is no longer available; this call was upgraded to {served}"
    return VersionRoute(served, headers=(("X-Ad-Api-Version-Warning", warning),))


def check_token(
    config: SandboxConfig, token: str | None, params: Mapping[str, Any], now: float
) -> GraphError | None:
    if token is None:
        return errors.missing_token()
    if not hmac.compare_digest(token.encode(), config.access_token.encode()):
        return errors.invalid_token()
    if config.token_expired:
        return errors.expired_token(now)
    return check_proof(config, token, params.get("appsecret_proof"))


def appsecret_proof(app_secret: str, token: str) -> str:
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def check_proof(config: SandboxConfig, token: str, proof: Any) -> GraphError | None:
    if config.app_secret is None:
        return None
    if not isinstance(proof, str) or not proof:
        return errors.missing_appsecret_proof()
    expected = appsecret_proof(config.app_secret, token)
    if not hmac.compare_digest(proof.lower().encode(), expected.encode()):
        return errors.invalid_appsecret_proof()
    return None


def dataset_exists(config: SandboxConfig, dataset_id: str) -> bool:
    if config.datasets is None:
        return dataset_id.isascii() and dataset_id.isdigit()
    return dataset_id in config.datasets


def check_dataset(config: SandboxConfig, method: str, dataset_id: str) -> GraphError | None:
    if dataset_exists(config, dataset_id):
        return None
    return errors.unknown_object(method, dataset_id)
