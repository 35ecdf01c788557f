"""linkdesk's one configuration loader: defaults < TOML file < environment <
command line, typed, for every command (`serve`, `site render`, `orders`).

Secrets come from the file, a file named in it (`secret_file`), or the
environment (`LINKDESK_PBX_<NAME>_SECRET`), and never appear in a repr.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from linkdesk.agi.fastagi import AgiLimits
from linkdesk.agi.peers import PeerBinding
from linkdesk.ami.connection import AmiEndpoint, AmiTiming
from linkdesk.bridge.app import webhook_config
from linkdesk.bridge.app.cluster_config import SCHEMA as CLUSTER_SCHEMA, ClusterConfig, cluster_config
from linkdesk.bridge.app.config_error import ConfigError, typed as _typed
from linkdesk.bridge.app.dialplan_config import pbx_dialplan
from linkdesk.bridge.app.platform_config import platforms_config
from linkdesk.bridge.app.process_config import (LogConfig, ProcessConfigError, ServiceConfig, log_config,
                                                 service_config)
from linkdesk.bridge.app.webhook_config import WebhookSettings
from linkdesk.bridge.app.security_config import agi_peers, ami_tls
from linkdesk.bridge.app.store_config import SCHEMA as STORE_SCHEMA, store_settings
from linkdesk.bridge.app.token_config import TokenConfigError, read_tokens
from linkdesk.bridge.core.outbox import DeliveryTiming
from linkdesk.bridge.core.platforms import Platforms
from linkdesk.bridge.core.tokens import ApiToken
from linkdesk.bridge.core.transfer_model import TransferPlan
from linkdesk.bridge.core.units import LinkageUnit, UnitConfigError, unit_from_config
from linkdesk.dialplan.render import PbxDialplan


DEFAULT_STORE = "/var/lib/linkdesk/linkdesk.db"


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8573
    cors_origins: tuple[str, ...] = ()     # browser desk apps allowed to read the API (e.g. the screen pop)
    tls_cert: str | None = None            # PEM certificate (and chain) file: HTTPS, TLS 1.2+ (https.py)
    tls_key: str | None = None             # its PEM private key file
    metrics_auth: bool = False             # /metrics only for a token with the metrics scope


@dataclass(frozen=True)
class AgiConfig:
    host: str = "127.0.0.1"
    port: int = 4573
    limits: AgiLimits = AgiLimits()
    peers: PeerBinding = PeerBinding()      # which PBX each FastAGI peer speaks for (agi/peers.py)

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port FastAGI listens on: the shared one and each PBX's own."""
        return tuple(sorted({self.port} | self.peers.ports))


@dataclass(frozen=True)
class MetricsConfig:
    diversion: str = "transfer"         # a call is non-police when: "transfer" (it is handed on) or
                                        # "disposition" (the operator's non_police key says so)
    service_level_window: float = 900.0
    emergency_queues: frozenset[tuple[str, str]] = frozenset()   # (pbx, queue): the emergency lane's queues


@dataclass(frozen=True)
class Config:
    http: HttpConfig
    agi: AgiConfig
    pbxs: tuple[AmiEndpoint, ...]
    plans: dict[str, TransferPlan]
    tokens: tuple[ApiToken, ...]    # the API's bearer tokens, named and scoped (token_config.py)
    units: dict[str, LinkageUnit] = field(default_factory=dict)
    delivery: DeliveryTiming = DeliveryTiming()
    webhooks: WebhookSettings = WebhookSettings()
    metrics: MetricsConfig = MetricsConfig()
    store_path: str = DEFAULT_STORE
    store_url: str | None = None    # a PostgreSQL database instead of the SQLite file (store_config.py)
    store_sync: str = "normal"      # SQLite synchronous: "normal" or "full" (see README)
    store_retention_days: int | None = None   # citizens' numbers and texts kept this long (None: for ever)
    cluster: ClusterConfig = ClusterConfig()  # several instances on one store (cluster_config.py)
    platforms: Platforms = Platforms()        # the platforms and their PBXs (platform_config.py)
    dialplans: dict[str, PbxDialplan] = field(default_factory=dict)   # PBXs with a [pbx.NAME.dialplan] table
    ami: AmiTiming = AmiTiming()
    service: ServiceConfig = ServiceConfig()
    log: LogConfig = LogConfig()

    @property
    def store(self) -> str:
        """Where the store lives: the PostgreSQL URL when one is set, else the SQLite file."""
        return self.store_url or self.store_path

    def __repr__(self) -> str:
        return f"Config(http={self.http}, agi={self.agi}, pbxs={self.pbxs}, platforms={sorted(self.plans)})"


def load_config(path: str | None = None, env: Mapping[str, str] = os.environ,
                base: dict | None = None, http_port: int | None = None, *, logins: bool = True) -> Config:
    """The layered configuration; ConfigError when a setting is missing or wrong.

    `base` (the lab's settings, for `--lab`) sits under the file. With
    `logins=False` (commands that log in to no PBX: `site render`,
    `orders`) no PBX is required and no secret is read."""
    raw = _merge(base or {}, _read_toml(path) if path else {})
    http = _http(raw.get("http", {}))
    if "LINKDESK_HTTP_PORT" in env:
        http = replace(http, port=_int(env["LINKDESK_HTTP_PORT"], "LINKDESK_HTTP_PORT"))
    if http_port is not None:
        http = replace(http, port=http_port)
    tables = raw.get("pbx", {})
    pbxs = tuple(_pbx(name, table, env, logins) for name, table in tables.items())
    if not pbxs and logins:
        raise ConfigError("no PBX configured: add [pbx.NAME] tables to the config file, or use --lab")
    store = store_settings(_typed(raw.get("store", {}), STORE_SCHEMA, "store"))
    platforms = platforms_config(tables, raw.get("platforms", {}))
    plans = {name: _plan(name, table.get("transfer", {}), platforms) for name, table in tables.items()}
    agi = _agi(raw.get("agi", {}))
    agi = replace(agi, peers=agi_peers(tables, agi.port))
    cluster = cluster_config(_typed(raw.get("cluster", {}), CLUSTER_SCHEMA, "cluster"))
    return Config(http=http, agi=agi, pbxs=pbxs, plans=plans,
                  tokens=_tokens(raw.get("tokens", {}), env), units=_units(raw.get("units", {})),
                  delivery=_delivery(raw.get("orders", {})), metrics=_metrics(raw.get("metrics", {})),
                  webhooks=_webhooks(raw.get("webhooks", {})),
                  dialplans={name: pbx_dialplan(name, table, plans[name], _dialplan_secret(name, table, env),
                                                cluster.instances)
                             for name, table in tables.items() if "dialplan" in table},
                  cluster=cluster, platforms=platforms,
                  ami=_ami(raw.get("ami", {})),
                  **store, **_process(raw))


def _process(raw: dict) -> dict:
    """[service] and [log] (process_config.py)."""
    try:
        return {"service": service_config(raw.get("service", {})), "log": log_config(raw.get("log", {}))}
    except ProcessConfigError as exc:
        raise ConfigError(str(exc)) from None


def _http(table: dict) -> HttpConfig:
    metrics_auth = table.get("metrics_auth", False)
    if not isinstance(metrics_auth, bool):
        raise ConfigError(f"http.metrics_auth: expected true or false, got {metrics_auth!r}")
    fields = _typed({k: v for k, v in table.items() if k != "metrics_auth"},
                    {"host": str, "port": int, "cors_origins": list, "tls_cert": str, "tls_key": str}, "http")
    if ("tls_cert" in fields) != ("tls_key" in fields):
        raise ConfigError("http.tls_cert and http.tls_key: give both (HTTPS) or neither (plain HTTP)")
    origins = fields.pop("cors_origins", [])
    if not all(isinstance(o, str) and o.startswith(("http://", "https://")) for o in origins):
        raise ConfigError('http.cors_origins: a list of origins like "https://desk.example"')
    return HttpConfig(**fields, cors_origins=tuple(origins), metrics_auth=metrics_auth)


def _metrics(table: dict) -> MetricsConfig:
    fields = _typed(table, {"diversion": str, "service_level_window": (int, float), "emergency_queues": dict},
                    "metrics")
    fields["emergency_queues"] = _emergency_queues(fields.get("emergency_queues", {}))
    if fields.get("diversion", "transfer") not in ("transfer", "disposition"):
        raise ConfigError('metrics.diversion: "transfer" or "disposition"')
    if fields.get("service_level_window", 1) <= 0:
        raise ConfigError("metrics.service_level_window: seconds > 0")
    return MetricsConfig(**fields)


def _ami(table: dict) -> AmiTiming:
    """[ami]: the reconnect and login backoff (backoff_initial, backoff_cap, s; backoff_jitter, 0–1)."""
    fields = _typed(table, {"backoff_initial": (int, float), "backoff_cap": (int, float),
                            "backoff_jitter": (int, float)}, "ami")
    initial = fields.get("backoff_initial", AmiTiming.backoff_initial)
    cap = fields.get("backoff_cap", AmiTiming.backoff_cap)
    if not 0 < initial <= cap:
        raise ConfigError("ami: backoff_initial and backoff_cap are seconds > 0, backoff_initial ≤ backoff_cap")
    if not 0 <= fields.get("backoff_jitter", 0) < 1:
        raise ConfigError("ami.backoff_jitter: a fraction from 0 up to (not including) 1")
    return AmiTiming(**{k: float(v) for k, v in fields.items()})


def _emergency_queues(table: dict) -> frozenset[tuple[str, str]]:
    """[metrics] emergency_queues = { "110" = ["110-emergency"] }: PBX → its emergency-lane queues."""
    if not all(isinstance(queues, list) and all(isinstance(q, str) and q for q in queues)
               for queues in table.values()):
        raise ConfigError('metrics.emergency_queues: a table of PBX = ["queue", …], e.g. { "110" = ["110-emergency"] }')
    return frozenset((str(pbx), queue) for pbx, queues in table.items() for queue in queues)


def _delivery(table: dict) -> DeliveryTiming:
    """[orders]: webhook retries (retry_base, retry_cap, seconds) and acceptance
    deadlines per priority (deadlines = { urgent = 60, … })."""
    fields = _typed(table, {"retry_base": (int, float), "retry_cap": (int, float), "deadlines": dict,
                            "dead_letter_after": (int, float)}, "orders")
    deadlines = dict(DeliveryTiming().deadlines)
    for priority, seconds in fields.pop("deadlines", {}).items():
        if priority not in deadlines or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ConfigError(f"orders.deadlines.{priority}: a priority of {sorted(deadlines)} and seconds > 0")
        deadlines[priority] = float(seconds)
    if any(value <= 0 for value in fields.values()):
        raise ConfigError("orders: retry_base, retry_cap and dead_letter_after are seconds > 0")
    return DeliveryTiming(**{k: float(v) for k, v in fields.items()}, deadlines=tuple(deadlines.items()))


def _webhooks(table: dict) -> WebhookSettings:
    """[webhooks]: see webhook_config."""
    fields = _typed(table, webhook_config.SCHEMA, "webhooks")
    try:
        return webhook_config.webhook_settings(fields)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _units(tables: dict) -> dict[str, LinkageUnit]:
    try:
        return {unit_id: unit_from_config(unit_id, table if isinstance(table, dict) else {})
                for unit_id, table in tables.items()}
    except UnitConfigError as exc:
        raise ConfigError(str(exc)) from None


def _merge(low: dict, high: dict) -> dict:
    merged = dict(low)
    for key, value in high.items():
        merged[key] = _merge(low[key], value) if isinstance(value, dict) and isinstance(low.get(key), dict) else value
    return merged


def _plan(name: str, table: dict, platforms: Platforms) -> TransferPlan:
    fields = _typed(table, {"answer_timeout": int, "targets": dict, "emergency": dict}, f"pbx.{name}.transfer")
    targets = {(to, "normal"): str(exten) for to, exten in fields.get("targets", {}).items()}
    targets.update({(to, "emergency"): str(exten) for to, exten in fields.get("emergency", {}).items()})
    return TransferPlan(pbx=name, platform=platforms.platform_of(name), targets=targets,
                        answer_timeout=fields.get("answer_timeout", 20))


def load_tokens(path: str | None, env: Mapping[str, str] = os.environ,
                base: dict | None = None) -> tuple[ApiToken, ...]:
    """Only the [tokens] of the same layers as load_config (a reload reads
    them and the token files again); ConfigError when one is bad."""
    raw = _merge(base or {}, _read_toml(path) if path else {})
    return _tokens(raw.get("tokens", {}), env)


def _tokens(table: dict, env: Mapping[str, str]) -> tuple[ApiToken, ...]:
    try:
        return read_tokens(table, env)
    except TokenConfigError as exc:
        raise ConfigError(str(exc)) from None


def _agi(table: dict) -> AgiConfig:
    fields = _typed(table, {"host": str, "port": int, "command_timeout": (int, float),
                            "idle_timeout": (int, float), "max_line_length": int,
                            "max_sessions": int, "allowed_peers": list}, "agi")
    peers = fields.pop("allowed_peers", [])
    if not all(isinstance(peer, str) for peer in peers):
        raise ConfigError("agi.allowed_peers: expected a list of addresses")
    host, port = fields.pop("host", "127.0.0.1"), fields.pop("port", 4573)
    limits = AgiLimits(**{k: float(v) if k.endswith("timeout") else v for k, v in fields.items()},
                       allowed_peers=frozenset(peers))
    return AgiConfig(host=host, port=port, limits=limits)


def _read_toml(path: str) -> dict:
    try:
        return tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _pbx(name: str, table: dict, env: Mapping[str, str], logins: bool) -> AmiEndpoint:
    fields = _typed({k: v for k, v in table.items() if k not in ("transfer", "dialplan", "tls", "platform")},
                    {"host": str, "ami_port": int, "username": str, "secret": str, "secret_file": str,
                     "agi_peers": list, "agi_port": int, "tls_ca": str}, f"pbx.{name}")
    return AmiEndpoint(name=name, host=fields.get("host", "127.0.0.1"),
                       port=fields.get("ami_port", 5038), username=fields.get("username", "linkdesk"),
                       secret=_secret(name, fields, env) if logins else "", **ami_tls(name, table))


def _dialplan_secret(name: str, pbx: dict, env: Mapping[str, str]) -> str | None:
    """The PBX's AMI secret for the manager.conf user, if known: rendering
    everything else needs none."""
    try:
        return _secret(name, pbx, env)
    except ConfigError:
        return None


def _secret(name: str, fields: dict, env: Mapping[str, str]) -> str:
    env_key = f"LINKDESK_PBX_{name.upper()}_SECRET"
    if env_key in env:
        return env[env_key]
    if "secret_file" in fields:
        try:
            return Path(fields["secret_file"]).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"pbx.{name}.secret_file: cannot read it ({exc.strerror})") from exc
    if "secret" in fields:
        return fields["secret"]
    raise ConfigError(f"pbx.{name}: no AMI secret (set secret, secret_file or {env_key})")


def _int(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
