"""`linkdesk site check`: reads a site's Asterisk config folder, as Asterisk
would (includes expanded), and reports, before anything is deployed, what
would make linkdesk's keys, rooms or trunk fail at that site: keys that clash
with the site's featuremap, missing modules, profiles, settings and includes,
and queue or trunk names the site does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from linkdesk.dialplan.conffile import ConfError, Section, find_section, parse_conf, read_tree, resolved
from linkdesk.dialplan.contract import CHANNEL_VARS, CONSULT_CONTEXT, FEATURES, PROFILES
from linkdesk.dialplan.keys import CALL_KEYS, KitError, clashes
from linkdesk.dialplan.kit import QUEUE_SETTINGS, kit
from linkdesk.dialplan.render import PbxDialplan

# What each module is for (Asterisk loads nothing else linkdesk needs).
REQUIRED_MODULES = {
    "res_agi.so": "AGI, every linkdesk route", "app_queue.so": "the operators' queues",
    "app_confbridge.so": "ConfBridge, the three-way room", "app_dial.so": "Dial, crossing the trunk",
    "app_stack.so": "Gosub, the b() handlers", "app_exec.so": "ExecIf", "app_userevent.so": "UserEvent",
    "func_cut.so": "CUT, the stamp", "func_logic.so": "IF", "func_global.so": "GLOBAL, kept outcomes",
    "func_channel.so": "CHANNEL, MASTER_CHANNEL", "func_callerid.so": "CALLERID", "chan_pjsip.so": "PJSIP channels",
    "res_pjsip_header_funcs.so": "PJSIP_HEADER, the X-Linkdesk headers",
    "res_pjsip_caller_id.so": "P-Asserted-Identity", "res_pjsip_endpoint_identifier_ip.so":
    "identifying the trunk by address", "bridge_builtin_features.so": "in-call keys",
    "app_playback.so": "the refusal sound", "app_read.so": "Read, the whisper's accept and reject keys",
}
# Asterisk's own defaults for keys a site's [featuremap] leaves unset
BUILTIN_KEYS = {"blindxfer": "#", "disconnect": "*"}


@dataclass(frozen=True)
class Finding:
    kind: str          # clash | missing-module | missing-setting | missing-include | unknown-name | note
    text: str

    @property
    def is_problem(self) -> bool:
        return self.kind != "note"

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


def check_site(plan: PbxDialplan, etc: Path, layout: str = "plain") -> list[Finding]:
    """Every problem (and note) found in the site's config folder `etc` for `plan`."""
    if not (etc / "asterisk.conf").is_file() and not (etc / "extensions.conf").is_file():
        return [Finding("missing-setting", f"{etc} holds no Asterisk config (no asterisk.conf or extensions.conf)")]
    read = _Reader(etc)
    return [*_includes(plan, etc, layout), *_keys(plan, read), *_modules(read), *_profiles(read),
            *_manager(plan, read), *_queues(plan, read), *_trunk(plan, read), *_consult(plan, read),
            *_media(read)]


def unknown_names(plan: PbxDialplan, etc: Path) -> list[str]:
    """Queue and trunk names of `plan` that the site's queues.conf/pjsip.conf
    (when `etc` has them) do not define."""
    read = _Reader(etc)
    return [f.text for f in [*_queues(plan, read, settings=False), *_trunk(plan, read, settings=False)]]


class _Reader:
    def __init__(self, etc: Path):
        self.etc, self._cache = etc, {}

    def has(self, name: str) -> bool:
        return (self.etc / name).is_file()

    def sections(self, name: str) -> list[Section]:
        if name not in self._cache:
            try:
                self._cache[name] = parse_conf(read_tree(self.etc, name), name)
            except ConfError as exc:
                raise KitError(f"{self.etc / name}: {exc}") from None
        return self._cache[name]

    def merged(self, name: str, section: str) -> dict[str, str]:
        """All options of every [section] in the file, the last value winning."""
        options: dict[str, str] = {}
        for found in self.sections(name):
            if found.name == section:
                options.update(dict(found.options))
        return options

    def entries(self, name: str, section: str) -> list[tuple[str, str]]:
        return [pair for found in self.sections(name) if found.name == section for pair in found.options]

    def defined(self, name: str, section: str, type_: str | None = None) -> Section | None:
        """Section `section` of file `name` with its templates and additions applied; None if absent."""
        try:
            return find_section(self.sections(name), section, type_)
        except ConfError:
            return None


def _includes(plan: PbxDialplan, etc: Path, layout: str) -> list[Finding]:
    findings = []
    for item in kit(plan, layout):
        if not (etc / item.name).is_file():
            findings.append(Finding("missing-include", f"{item.name} is not there: run `linkdesk site render "
                                    f"--pbx {plan.pbx} --out {etc}`"))
        site = etc / item.include_from
        text = site.read_text(errors="replace") if site.is_file() else ""
        if item.include_line not in text and f'#include "{item.name}"' not in text:
            findings.append(Finding("missing-include", f"{item.include_from} has no `{item.include_line}` "
                                    f"({'at the top' if item.position == 'top' else 'at the end'}; "
                                    "`linkdesk site render --add-includes` adds it)"))
    return findings


def _keys(plan: PbxDialplan, read: _Reader) -> list[Finding]:
    """linkdesk's in-call keys against the site's featuremap and other applicationmap entries."""
    theirs = [(f"[featuremap] {name}", value) for name, value in read.entries("features.conf", "featuremap")]
    theirs += [(f"[applicationmap] {name}", value.split(",", 1)[0].strip())
               for name, value in read.entries("features.conf", "applicationmap") if name not in FEATURES]
    findings = [Finding("clash", f"linkdesk's {key} key {plan.keys[key]} and {where} ({value}): "
                        f"one equals or starts the other; change [pbx.{plan.pbx}.dialplan] keys.{key}")
                for key in CALL_KEYS for where, value in theirs if value and clashes(plan.keys[key], value)]
    featuremap = dict(read.entries("features.conf", "featuremap"))
    for name, value in BUILTIN_KEYS.items():
        hit = [key for key in CALL_KEYS if name not in featuremap and clashes(plan.keys[key], value)]
        if hit:
            findings.append(Finding("note", f"Asterisk's built-in {name} key {value!r} starts linkdesk's "
                                    f"{', '.join(hit)} key(s): it is active only where a Dial or Queue gives the "
                                    f"{'t/T' if name == 'blindxfer' else 'h/H'} option; keep that off for "
                                    f"operators' calls, or set [featuremap] {name}"))
    timeout = read.merged("features.conf", "general").get("featuredigittimeout")
    if timeout != str(plan.digit_timeout):
        findings.append(Finding("missing-setting", f"features.conf [general] featuredigittimeout is {timeout or 'unset'}, "
                                f"not linkdesk's {plan.digit_timeout}"))
    return findings


def _modules(read: _Reader) -> list[Finding]:
    general = read.merged("modules.conf", "modules")
    loaded = {value for name, value in read.entries("modules.conf", "modules") if name in ("load", "preload", "require")}
    refused = {value for name, value in read.entries("modules.conf", "modules") if name == "noload"}
    autoload = general.get("autoload", "no").lower() in ("yes", "true", "1")
    missing = [module for module in REQUIRED_MODULES
               if module in refused or (not autoload and module not in loaded)]
    return [Finding("missing-module", f"{module} ({REQUIRED_MODULES[module]}) is not loaded: modules.conf "
                    + ("has `noload` for it" if module in refused else "has autoload = no and no `load` line for it"))
            for module in missing]


def _profiles(read: _Reader) -> list[Finding]:
    return [Finding("missing-setting", f"confbridge.conf defines no [{name}] (linkdesk's three-way room): "
                    "is linkdesk-confbridge.conf included?")
            for name in PROFILES if read.defined("confbridge.conf", name) is None]


def _manager(plan: PbxDialplan, read: _Reader) -> list[Finding]:
    general = read.merged("manager.conf", "general")
    findings = []
    if general.get("enabled", "no").lower() not in ("yes", "true", "1"):
        findings.append(Finding("missing-setting", "manager.conf [general] enabled is not yes: linkdesk cannot log in"))
    have = {v.strip() for v in general.get("channelvars", "").split(",")}
    lacking = [name for name in CHANNEL_VARS if name not in have]
    if lacking:
        findings.append(Finding("missing-setting", f"manager.conf [general] channelvars lacks {', '.join(lacking)}"))
    if general.get("timestampevents", "no").lower() not in ("yes", "true", "1"):
        findings.append(Finding("missing-setting", "manager.conf [general] timestampevents is not yes"))
    if read.defined("manager.conf", plan.ami_user) is None:
        findings.append(Finding("missing-setting", f"manager.conf has no user [{plan.ami_user}]"))
    return findings


def _queues(plan: PbxDialplan, read: _Reader, settings: bool = True) -> list[Finding]:
    if not read.has("queues.conf"):
        return []
    findings = []
    for queue in plan.queues:
        section = read.defined("queues.conf", queue)
        if section is None:
            findings.append(Finding("unknown-name", f"pbx.{plan.pbx}.dialplan.queues: queues.conf has no queue {queue!r}"))
        elif settings:
            findings += [Finding("missing-setting", f"queue {queue}: {name} is not {value}")
                         for name, value in QUEUE_SETTINGS if section.get(name) != value]
    return findings


def _trunk(plan: PbxDialplan, read: _Reader, settings: bool = True) -> list[Finding]:
    if not read.has("pjsip.conf"):
        return []
    return [finding for trunk in plan.trunks for finding in _one_trunk(plan, trunk, read, settings)]


def _one_trunk(plan: PbxDialplan, trunk: str, read: _Reader, settings: bool) -> list[Finding]:
    endpoint = read.defined("pjsip.conf", trunk, "endpoint")
    if endpoint is None:
        return [Finding("unknown-name", f"pbx.{plan.pbx}.dialplan.trunk: pjsip.conf has no endpoint {trunk!r}")]
    if not settings:
        return []
    options = dict(endpoint.options)
    findings = []
    if options.get("identify_by", "username,ip") != "ip":
        findings.append(Finding("missing-setting", f"trunk {trunk}: identify_by is "
                                f"{options.get('identify_by', 'unset (username,ip)')}, not ip: any caller whose "
                                "From user is the trunk's name would be taken for the other PBX"))
    for name in ("send_pai", "trust_id_inbound", "trust_id_outbound"):
        if options.get(name, "no").lower() not in ("yes", "true", "1"):
            findings.append(Finding("missing-setting", f"trunk {trunk}: {name} is not yes (withheld "
                                    "numbers and the citizen's number would not travel)"))
    try:
        identified = any(s.get("type") == "identify" and s.get("endpoint") == trunk and s.get("match")
                         for s in resolved(read.sections("pjsip.conf")))
    except ConfError as exc:
        return [*findings, Finding("missing-setting", f"pjsip.conf: {exc}")]
    if not identified:
        findings.append(Finding("missing-setting", f"trunk {trunk}: no identify section matches its address"))
    return findings


def _consult(plan: PbxDialplan, read: _Reader) -> list[Finding]:
    """A note when no site context sends a call to the other platform through
    linkdesk-consult: the phone's own attended transfer would carry no order."""
    if not plan.target_numbers or not read.has("extensions.conf"):
        return []
    if any(f"{CONSULT_CONTEXT}," in value for section in read.sections("extensions.conf")
           if not section.name.startswith("linkdesk-") for _, value in section.options):
        return []
    numbers = ", ".join(number for _, number in plan.target_numbers)
    return [Finding("note", f"no site context routes the operators' calls to {numbers} through {CONSULT_CONTEXT} "
                    f"(`exten => <number>,1,Goto({CONSULT_CONTEXT},<number>,1)` in the operators' context): "
                    "the phone's own attended transfer of such a call stays Asterisk's, without an order")]


_ANY = ("0.0.0.0", "::", "[::]", "")


def _media(read: _Reader) -> list[Finding]:
    """A note naming the endpoints whose RTP binds to the wildcard address.

    Asterisk then looks for its own address for each call's RTCP
    (ast_find_ourip): it resolves the host's name and A.ROOT-SERVERS.NET.
    Where DNS is unreachable, as on an isolated emergency network, a call
    waits the resolver's timeout (5 s) in silence at that step: the busy
    hour met it on a hand-over. An endpoint whose transport is bound to an
    address, or with media_address and bind_rtp_to_media_address, binds
    there and asks no one."""
    if not read.has("pjsip.conf"):
        return []
    try:
        sections = resolved(read.sections("pjsip.conf"))
    except ConfError:
        return []   # _trunk reports the file's error
    binds = {s.name: _host(s.get("bind", "")) for s in sections if s.get("type") == "transport"}
    loose = [s.name for s in sections if s.get("type") == "endpoint" and not _bound(s, binds)]
    if not loose:
        return []
    shown = ", ".join(loose[:5]) + (f" and {len(loose) - 5} more" if len(loose) > 5 else "")
    return [Finding("note", f"pjsip.conf: endpoint(s) {shown} bind RTP to any address (no transport bound to "
                    "one, no media_address with bind_rtp_to_media_address): for each call Asterisk resolves "
                    "this host's name and A.ROOT-SERVERS.NET to find its own, and where DNS is unreachable the "
                    "call waits the resolver's timeout (5 s) in silence; set transport = <a transport bound to "
                    "an address> on them")]


def _bound(endpoint: Section, binds: dict[str, str]) -> bool:
    """True when the endpoint's RTP binds to a given address, as res_pjsip_sdp_rtp chooses it."""
    if endpoint.get("media_address") and endpoint.get("bind_rtp_to_media_address", "no").lower() in ("yes", "true", "1"):
        return True
    return binds.get(endpoint.get("transport", ""), "") not in _ANY


def _host(bind: str) -> str:
    """The address part of a transport's bind (`127.0.0.1:5060`, `[::]:5060`, `0.0.0.0`)."""
    if bind.startswith("["):
        return bind[:bind.index("]") + 1] if "]" in bind else bind
    return bind.rsplit(":", 1)[0] if bind.count(":") == 1 else bind
