"""The checks every Graph call passes before its body matters: version, token, proof, object.

Each returns the `GraphError` Meta would answer, or None.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from capisync.sandbox import graph_errors as errors
from capisync.sandbox.config import SandboxConfig
from capisync.sandbox.graph_errors import GraphError

_VERSION = re.compile(r"v(\d+)\.0")
OLDEST_VERSION = 21  # older majors answer "deprecated version" (#2635)
NEWEST_VERSION = 26  # v25.0 and v26.0 are current; a later one does not exist yet


def check_version(version: str, rest: str) -> GraphError | None:
    match = _VERSION.fullmatch(version)
    if match is None or int(match.group(1)) > NEWEST_VERSION:
        return errors.unknown_path(f"/{version}{rest}")
    if int(match.group(1)) < OLDEST_VERSION:
        return errors.deprecated_version(version)
    return None


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
