"""[cluster]: several linkdesk instances sharing one store (PostgreSQL, for
instances on several hosts), each serving FastAGI and HTTP, one acting as
leader (core/leadership.py):

    [cluster]
    instances = ["agi://10.1.0.5:4573", "agi://10.1.0.6:4573"]   # every instance's FastAGI, tried in order
    lease_seconds = 5       # a dead leader's lease lapses after this long; the standby then acts

The rendered dialplan tries the instances in order, going to the next only
when one cannot be reached (a refused or timed-out connection: Asterisk
waits 2 s for a host that does not answer), so a site names them once here
instead of in each PBX's `agi_url`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from linkdesk.bridge.app.config_error import ConfigError
from linkdesk.bridge.core.leadership import LeaseTiming

SCHEMA = {"instances": list, "lease_seconds": (int, float)}
_INSTANCE = re.compile(r"agi://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?")
MIN_LEASE = 2.0      # s: renewed every fifth of it, at least twice before it lapses


@dataclass(frozen=True)
class ClusterConfig:
    instances: tuple[str, ...] = ()     # FastAGI URLs, in the order the dialplan tries them; () = agi_url
    lease: LeaseTiming = LeaseTiming()


def cluster_config(table: dict) -> ClusterConfig:
    """The [cluster] table (already checked against SCHEMA); ConfigError naming the setting."""
    instances = table.get("instances", [])
    if not all(isinstance(url, str) and _INSTANCE.fullmatch(url) for url in instances):
        raise ConfigError('cluster.instances: FastAGI addresses without a path, like ["agi://10.1.0.5:4573", …]')
    if len(set(instances)) != len(instances):
        raise ConfigError("cluster.instances: each instance once")
    seconds = float(table.get("lease_seconds", LeaseTiming.seconds))
    if seconds < MIN_LEASE:
        raise ConfigError(f"cluster.lease_seconds: at least {MIN_LEASE:g} s, got {table['lease_seconds']!r}")
    renew = min(1.0, seconds / 5)
    return ClusterConfig(instances=tuple(instances), lease=LeaseTiming(seconds=seconds, renew=renew, margin=renew))
