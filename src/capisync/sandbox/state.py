"""Everything one running sandbox holds: its live config, what arrived, and fault state."""

from __future__ import annotations

from dataclasses import dataclass

from capisync.sandbox.config import SandboxConfig, copy_config, restore_config
from capisync.sandbox.faults import FaultInjector
from capisync.sandbox.store import EventStore


@dataclass
class SandboxState:
    config: SandboxConfig  # live: read afresh by every request
    baseline: SandboxConfig  # what `reset` restores: the config the sandbox was created with
    store: EventStore
    faults: FaultInjector

    @classmethod
    def create(cls, config: SandboxConfig) -> SandboxState:
        store = EventStore(clock=lambda: config.clock())
        return cls(config, copy_config(config), store, FaultInjector(config))

    def reset(self) -> None:
        """Forget what arrived, restore the starting config, restart the fault RNG and window."""
        restore_config(self.config, self.baseline)
        self.store.reset()
        self.faults.reset()
