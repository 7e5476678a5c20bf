"""What the Meta client needs to know: where to post, with which credentials, how hard to try."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

import capisync
from capisync.errors import ConfigError
from capisync.meta.retry import RetryPolicy

_RELEASE = re.compile(r"\s*v?(\d+)(?:\.(\d+))?")  # the release segment of a version


def partner_agent_for(name: str, package_version: str) -> str:
    """`partner_agent` in Meta's documented shape `name_major_minor`: ("capisync", "0.1.0") ->
    "capisync_0_1" (Conversions API "Parameters": partner_agent). The Dataset Quality API's
    `agent_name` filter takes the normalized name, not this value (capi/dataset_quality.py
    agent_name_for). A version without a minor number counts it as 0."""
    match = _RELEASE.match(package_version)
    major, minor = (match.group(1), match.group(2) or "0") if match else ("0", "0")
    return f"{name}_{major}_{minor}"


def _default_partner_agent() -> str:
    return partner_agent_for("capisync", capisync.__version__)


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    """`api_version` has no default here: the caller decides it, from its configuration or
    `capisync.capi.versions.newest(today)` (a version is current only on some dates)."""

    base_url: str = "https://graph.facebook.com"
    api_version: str
    dataset_id: str
    access_token: str = field(repr=False)  # never in a URL, a log line or an error message
    app_secret: str | None = field(default=None, repr=False)
    test_event_code: str | None = None
    partner_agent: str = field(default_factory=_default_partner_agent)
    concurrency: int = 4  # requests in flight across all batches
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        problems = [
            name
            for name, bad in (
                ("dataset_id is empty", not self.dataset_id.strip()),
                ("access_token is empty", not self.access_token.strip()),
                ("concurrency must be at least 1", self.concurrency < 1),
                ("timeout must be positive", self.timeout <= 0),
            )
            if bad
        ]
        if problems:
            raise ConfigError(problems)

    @property
    def events_url(self) -> str:
        return f"{self.dataset_url}/events"

    @property
    def dataset_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/{self.api_version}/{self.dataset_id.strip()}"

    @property
    def appsecret_proof(self) -> str | None:
        """hex HMAC-SHA256(key=app_secret, msg=access_token), as the Graph API expects."""
        if not self.app_secret:
            return None
        key, msg = self.app_secret.encode(), self.access_token.encode()
        return hmac.new(key, msg, hashlib.sha256).hexdigest()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in a message."""
        return tuple(s for s in (self.access_token, self.app_secret) if s)
