"""Where the lab lives and what each lab PBX offers: ports, AMI user, numbers, phones.

Ports and the phones' SIP secrets are read from each PBX's own .conf files
under `asterisk-config/`; numbers, queues, linkdesk's AMI login (the kit
renders it into manager.conf) and the ports the lab's sipp phones listen on
from `asterisk-config/lab.toml`. Nothing is written down twice.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from linkdesk.dialplan.conffile import ConfError, Section, find_section, parse_conf, read_conf

PBX_NAMES = ("110", "12345")       # what `lab up` starts
ON_DEMAND = ("110b",)              # the 110 platform's second PBX, started by the tests that need it


# manager-tls.crt and manager-tls.key in each PBX's astetcdir (manager.conf's tlscertfile, tlsprivatekey).
AMI_TLS_NAME = "manager-tls"


class LabError(RuntimeError):
    """Something about the lab is wrong; the message says what to do."""


@dataclass(frozen=True)
class Paths:
    """The lab's places on the host: config source, the sid root, caches, state."""

    config_dir: Path
    state_dir: Path

    @property
    def root(self) -> Path:
        return self.state_dir / "sid-root"

    @property
    def cache(self) -> Path:
        return self.state_dir / "cache"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    def etc_in_root(self, pbx: str) -> str:
        return f"/etc/linkdesk-lab/{pbx}"

    def var_in_root(self, pbx: str) -> str:
        return f"/var/lib/linkdesk-lab/{pbx}"

    def ami_certificate(self, pbx: str) -> Path:
        """The certificate `lab up` makes for PBX `pbx`'s AMI over TLS (manager.conf
        tlscertfile), as the host sees it: what linkdesk's tls_ca pins."""
        return self.root / self.etc_in_root(pbx).lstrip("/") / f"{AMI_TLS_NAME}.crt"


def package_dir(package: str) -> Path:
    """The folder on disk of one of linkdesk's packages (e.g. the lab's site
    files, `linkdesk.asterisk_config`), installed or in a checkout; LabError
    if it is not a folder (a zipped install), since Asterisk and sipp read files."""
    found = resources.files(package)
    if not isinstance(found, Path) or not found.is_dir():
        raise LabError(f"{package} is not a folder on disk ({found}): the lab needs linkdesk installed "
                       "unpacked (`pip install linkdesk-*.whl`), not run from a zip")
    return found


def default_paths() -> Paths:
    """Paths from LINKDESK_LAB_DIR / LINKDESK_ASTERISK_CONFIG, else the defaults
    (the lab's site files shipped in the package)."""
    config = Path(os.environ.get("LINKDESK_ASTERISK_CONFIG") or package_dir("linkdesk.asterisk_config"))
    state = Path(os.environ.get("LINKDESK_LAB_DIR", "/var/lib/linkdesk"))
    return Paths(config_dir=config, state_dir=state)


@dataclass(frozen=True)
class Operator:
    """A lab phone: its extension, where its sipp listens, and what it needs to
    register there with its PBX (the secret of the endpoint's auth section)."""

    extension: str
    sip_host: str
    sip_port: int
    password: str
    registrar_host: str
    registrar_port: int


@dataclass(frozen=True)
class PbxSpec:
    """One lab PBX as scripts and tests need to reach it."""

    name: str
    platform: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    sip_host: str
    sip_port: int
    intake_number: str
    special_number: str | None
    queues: dict[str, str]
    operators: tuple[Operator, ...]
    phones: dict[str, Operator]
    trunk_endpoints: tuple[str, ...]    # towards the other platform's PBXs, dialled in turn
    outbound_context: str
    ami_tls_port: int | None = None     # AMI over TLS (manager.conf tlsenable, tlsbindaddr), if the PBX has it

    @property
    def trunk_endpoint(self) -> str:
        """The trunk to the other platform's first PBX (the one every call tries first)."""
        return self.trunk_endpoints[0]

    def phone(self, extension: str) -> Operator:
        """The lab phone of `extension` (an operator, a bench phone, the gas
        line); LabError if this PBX has none."""
        try:
            return self.phones[extension]
        except KeyError:
            raise LabError(f"PBX {self.name} has no lab phone {extension}: "
                           f"see [pbx.{self.name}.phones] in asterisk-config/lab.toml") from None

    def as_dict(self) -> dict:
        return {
            "platform": self.platform,
            "ami": {"host": self.ami_host, "port": self.ami_port,
                    "user": self.ami_user, "secret": self.ami_secret},
            "sip": {"host": self.sip_host, "port": self.sip_port},
            "numbers": {"intake": self.intake_number, "special": self.special_number},
            "queues": dict(self.queues),
            "operators": [{"extension": o.extension, "sip_host": o.sip_host,
                           "sip_port": o.sip_port, "password": o.password} for o in self.operators],
            "trunk_endpoint": self.trunk_endpoint,
            "trunk_endpoints": list(self.trunk_endpoints),
            "outbound_context": self.outbound_context,
        }


def lab_settings(paths: Paths, names: tuple[str, ...] = PBX_NAMES) -> dict:
    """The lab as linkdesk config (what a site writes in its config file): each
    of the PBXs `names`' AMI login, platform, transfer targets and dialplan
    settings, the lab tokens and units."""
    lab = tomllib.loads((paths.config_dir / "lab.toml").read_text())
    specs = load_specs(paths, names)
    pbx = {name: {"host": spec.ami_host, "ami_port": spec.ami_port, "username": spec.ami_user,
                  "secret": spec.ami_secret, "platform": lab["pbx"][name].get("linkdesk_platform", name),
                  "transfer": lab["pbx"][name].get("transfer", {}),
                  "dialplan": {"trunk": _one_or_list(spec.trunk_endpoints), "home_queue": spec.queues["intake"],
                               "queues": list(lab["pbx"][name]["operator_queues"])}}
           for name, spec in specs.items()}
    emergency = {name: [spec.queues["emergency"]] for name, spec in specs.items() if "emergency" in spec.queues}
    return {"pbx": pbx, "tokens": lab.get("tokens", {}), "units": lab.get("units", {}),
            "metrics": {"emergency_queues": emergency}, "cluster": lab.get("cluster", {})}


def lab_base() -> dict:
    """The lab PBXs as configuration (for `--lab`), read from asterisk-config/:
    the pair `lab up` starts, or the PBXs LINKDESK_LAB_PBXS names."""
    return lab_settings(default_paths(), lab_pbx_names())


def lab_pbx_names(env=os.environ) -> tuple[str, ...]:
    """LINKDESK_LAB_PBXS (names, comma-separated: the tests of a platform on two
    PBXs add 110b to the pair), else PBX_NAMES; LabError for a name the lab has not, or twice."""
    value = env.get("LINKDESK_LAB_PBXS", "").strip()
    if not value:
        return PBX_NAMES
    names = tuple(n.strip() for n in value.split(","))
    unknown = [n for n in names if n not in (*PBX_NAMES, *ON_DEMAND)]
    if unknown or len(set(names)) != len(names):
        raise LabError(f"LINKDESK_LAB_PBXS={value!r}: name each lab PBX once, of "
                       f"{', '.join((*PBX_NAMES, *ON_DEMAND))}")
    return names


def lab_dialplans(paths: Paths, names: tuple[str, ...] = PBX_NAMES) -> dict:
    """What `linkdesk site render --lab` renders for each lab PBX of `names`,
    read through the one config loader, as a site's config file would be."""
    from linkdesk.bridge.app.config import load_config

    return load_config(base=lab_settings(paths, names), env={}, logins=False).dialplans


def load_specs(paths: Paths, names: tuple[str, ...] = PBX_NAMES) -> dict[str, PbxSpec]:
    """The specs of the PBXs `names` (by default the two `lab up` starts), read
    from the config folder; LabError if it is broken."""
    try:
        numbers = tomllib.loads((paths.config_dir / "lab.toml").read_text())["pbx"]
        return {name: _spec(paths.config_dir / name, name, numbers[name]) for name in names}
    except (OSError, KeyError, ValueError, ConfError) as exc:
        raise LabError(f"lab config under {paths.config_dir} is unreadable: {exc}") from exc


def _spec(folder: Path, name: str, numbers: dict) -> PbxSpec:
    manager = parse_conf((folder / "manager.conf").read_text(), str(folder / "manager.conf"))
    pjsip = read_conf(folder / "pjsip.conf")
    general = find_section(manager, "general")
    sip_host, sip_port = _host_port(find_section(pjsip, "transport-udp", "transport").get("bind"))
    # The lab's phones run beside their PBX, so they listen on its SIP host.
    phones = {ext: Operator(ext, sip_host, port, _password(pjsip, ext), sip_host, sip_port)
              for ext, port in _phone_ports(numbers["phones"]).items()}
    return PbxSpec(
        name=name,
        platform=numbers["platform"],
        ami_host=general.get("bindaddr", "127.0.0.1"),
        ami_port=int(general.get("port", "5038")),
        ami_user=numbers["ami"]["username"],
        ami_secret=numbers["ami"]["secret"],
        sip_host=sip_host,
        sip_port=sip_port,
        intake_number=numbers["intake_number"],
        special_number=numbers.get("special_number"),
        queues=dict(numbers["queues"]),
        operators=tuple(phones[ext] for ext in numbers["operators"]),
        phones=phones,
        trunk_endpoints=_names(numbers["trunk_endpoint"]),
        outbound_context=numbers["outbound_context"],
        ami_tls_port=_host_port(general.get("tlsbindaddr"))[1] if general.get("tlsenable") == "yes" else None,
    )


def _names(value: str | list) -> tuple[str, ...]:
    """lab.toml's trunk_endpoint: one name, or a list of them."""
    return (value,) if isinstance(value, str) else tuple(value)


def _one_or_list(names: tuple[str, ...]) -> str | list[str]:
    """dialplan.trunk as a site writes it: a name, a list only when there are several."""
    return names[0] if len(names) == 1 else list(names)


def _phone_ports(table: dict) -> dict[str, int]:
    """Extension → sipp port from lab.toml's phones table, where a key
    "1201-1220" numbers a range of extensions on from its port."""
    ports = {}
    for key, port in table.items():
        first, _, last = key.partition("-")
        for offset, extension in enumerate(range(int(first), int(last or first) + 1)):
            ports[str(extension)] = int(port) + offset
    return ports


def _password(pjsip: list[Section], extension: str) -> str:
    """The secret `extension`'s phone registers with: its endpoint's auth section's."""
    auth = find_section(pjsip, extension, "endpoint").get("auth")
    password = auth and find_section(pjsip, auth, "auth").get("password")
    if not password:
        raise ConfError(f"endpoint [{extension}] has no auth section with a password")
    return password


def _host_port(value: str | None) -> tuple[str, int]:
    host, sep, port = (value or "").rpartition(":")
    if not sep or not port.isdigit():
        raise ConfError(f"expected host:port, got {value!r}")
    return host, int(port)
