"""The site kit: every Asterisk piece linkdesk needs on one PBX, rendered from
linkdesk's config, for a plain Asterisk (`#include` lines in the stock files)
or a FreePBX (its `*_custom.conf` files).

Each file names, in its first comment, the linkdesk version that rendered it
and the site file that includes it; `include_lines` says where each goes.
Everything is checked before anything is written: a bad setting leaves the
folder as it was.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from linkdesk.dialplan.contract import (BRIDGE_PROFILE, CHANNEL_VARS, CITIZEN_PROFILE, FEATURES, KEY_CONTEXT, MENU,
                                        OPERATOR_PROFILE, SOUND_NAME, WHISPER_CONTEXT)
from linkdesk.dialplan.keys import KitError, check_keys
from linkdesk.dialplan.render import PbxDialplan, render_extensions
from linkdesk.dialplan.sounds import Prompt, prompts, write_prompts
from linkdesk.dialplan.version import header

LAYOUTS = ("plain", "freepbx")
# The AMI classes linkdesk needs, and nothing more: read system (FullyBooted), call (channels,
# bridges, ConfBridge), agent (queue events), user (UserEvent), dtmf; write call (Redirect,
# Setvar, Getvar, Hangup, ConfbridgeKick/Mute), agent, originate, reporting (CoreShowChannels,
# ConfbridgeList). No command, config or system writes.
AMI_READ, AMI_WRITE = "system,call,agent,user,dtmf", "call,agent,originate,reporting"
QUEUE_SETTINGS = (("setqueuevar", "yes"), ("setinterfacevar", "yes"), ("setqueueentryvar", "yes"),
                  ("membergosub", WHISPER_CONTEXT))
TRUNK_TEMPLATE = "linkdesk-trunk"
SOUNDS_DIR = re.compile(r"/[A-Za-z0-9_/.-]{1,200}")
TRUNK_SETTINGS = (("identify_by", "ip"), ("send_pai", "yes"), ("trust_id_inbound", "yes"),
                  ("trust_id_outbound", "yes"))


@dataclass(frozen=True)
class KitFile:
    """One rendered file, and the site file whose `#include` line brings it in."""

    name: str
    include_from: str
    position: str        # where the #include goes in that file: "end", or "top" (before what uses it)
    text: str

    @property
    def include_line(self) -> str:
        return f"#include {self.name}"


def kit(plan: PbxDialplan, layout: str = "plain") -> list[KitFile]:
    """Every file of the kit for `plan` in `layout`; KitError when a setting is wrong."""
    validate(plan)
    if layout not in LAYOUTS:
        raise KitError(f"layout: {layout!r} is not one of {', '.join(LAYOUTS)}")
    freepbx = layout == "freepbx"
    files = [("linkdesk-extensions.conf", "extensions_custom.conf" if freepbx else "extensions.conf", "end",
              render_extensions(plan))]
    if freepbx:   # FreePBX includes these files inside the sections: no section headers
        files += [("linkdesk-features-general.conf", "features_general_custom.conf", "end", _digit_timeout(plan)),
                  ("linkdesk-features-applicationmap.conf", "features_applicationmap_custom.conf", "end",
                   _applicationmap(plan))]
    else:
        files.append(("linkdesk-features.conf", "features.conf", "end",
                      f"[general](+)\n{_digit_timeout(plan)}\n[applicationmap](+)\n{_applicationmap(plan)}"))
    files.append(("linkdesk-confbridge.conf", "confbridge_custom.conf" if freepbx else "confbridge.conf", "end",
                  render_confbridge(plan)))
    if plan.ami_secret is not None:   # see skipped()
        files.append(("linkdesk-manager.conf", "manager_custom.conf" if freepbx else "manager.conf", "end",
                      render_manager(plan)))
    files += [("linkdesk-queues.conf", "queues_post_custom.conf" if freepbx else "queues.conf", "end",
               render_queues(plan)),
              ("linkdesk-pjsip.conf", "pjsip.endpoint_custom_post.conf" if freepbx else "pjsip.conf",
               "end" if freepbx else "top", render_pjsip(plan, freepbx))]
    return [KitFile(name, into, position, header(plan.pbx, into) + text) for name, into, position, text in files]


def skipped(plan: PbxDialplan) -> list[str]:
    """The kit's pieces left out for want of a setting, each with what to set."""
    if plan.ami_secret is None:
        return [f"linkdesk-manager.conf (linkdesk's manager.conf user) not rendered: no AMI secret for PBX "
                f"{plan.pbx} (set pbx.{plan.pbx}.secret, secret_file or LINKDESK_PBX_{plan.pbx.upper()}_SECRET)"]
    return []


def validate(plan: PbxDialplan) -> None:
    """KitError, naming the setting, for what no PBX could run."""
    where = f"pbx.{plan.pbx}.dialplan"
    check_keys(plan.keys, where)
    for lane, targets in (("targets", plan.targets), ("emergency", plan.emergency)):
        if len(targets) > 1:
            raise KitError(f"pbx.{plan.pbx}.transfer.{lane}: the keys reach one platform per lane, "
                           f"not {', '.join(targets)}")
    if plan.queues and plan.home_queue not in plan.queues:
        raise KitError(f"{where}.home_queue: {plan.home_queue!r} is not one of its queues ({', '.join(plan.queues)})")
    if not SOUND_NAME.fullmatch(plan.refused_sound):
        raise KitError(f"{where}.refused_sound: {plan.refused_sound!r} is not a sound file's name")
    _validate_whisper(plan, where)
    if not 100 <= plan.digit_timeout <= 5000:
        raise KitError(f"{where}.digit_timeout: {plan.digit_timeout} ms; give 100 to 5000")
    if plan.ami_secret is not None and ("\n" in plan.ami_secret or not plan.ami_secret.strip()):
        raise KitError(f"pbx.{plan.pbx}.secret: empty, or more than one line")


def _validate_whisper(plan: PbxDialplan, where: str) -> None:
    unknown = set(plan.whisper_lanes) - {"normal", "emergency"}
    if unknown:
        raise KitError(f"{where}.whisper_lanes: {', '.join(sorted(unknown))} not a lane (normal, emergency)")
    keys = (plan.whisper_accept, plan.whisper_reject)
    if not all(len(key) == 1 and key in "0123456789*" for key in keys) or keys[0] == keys[1]:
        raise KitError(f"{where}.whisper_accept / whisper_reject: two different keys, each one of 0-9 or *")
    if not SOUNDS_DIR.fullmatch(plan.sounds_dir):
        raise KitError(f"{where}.sounds_dir: {plan.sounds_dir!r} is not an absolute folder name")
    if not 0 <= plan.whisper_wait <= 10:
        raise KitError(f"{where}.whisper_wait: {plan.whisper_wait} s; give 0 to 10")


def _digit_timeout(plan: PbxDialplan) -> str:
    return (f"; Most time between the digits of a key (ms); softphones that send SIP INFO\n"
            f"; digits about 1 s apart need more.\nfeaturedigittimeout = {plan.digit_timeout}\n")


def _applicationmap(plan: PbxDialplan) -> str:
    """The transfer keys, each running a FastAGI route on the operator's own
    channel through linkdesk-key, which sounds a refusal, linkdesk down or not.
    (A key that moves the operator, warm or emergency, is moved by linkdesk
    only once this Gosub has returned: a Redirect landing inside it would be
    followed within the key, and the operator lost.)"""
    route = f"transfer?pbx={plan.pbx}"
    arguments = {"linkdesk_xfer_blind": [f"{route}&to={to}&mode=blind" for to in plan.targets],
                 "linkdesk_xfer_warm": [f"{route}&to={to}&mode=warm" for to in plan.targets],
                 "linkdesk_emergency": [f"{route}&to={to}&lane=emergency" for to in plan.emergency],
                 "linkdesk_xfer_cancel": [f"transfer_cancel?pbx={plan.pbx}"],
                 "linkdesk_non_police": [f"non_police?pbx={plan.pbx}"]}
    lines = [f"{name} => {plan.keys[FEATURES[name]]},self,Gosub({KEY_CONTEXT},s,1({argument}))"
             for name in plan.features for argument in arguments[name]]
    return "\n".join(lines) + "\n"


def render_confbridge(plan: PbxDialplan) -> str:
    """The three-way room's profiles, and the operators' keys in it (features.conf
    keys do not reach a channel in ConfBridge)."""
    return f"""[{BRIDGE_PROFILE}]
type = bridge
max_members = 8
mixing_interval = 20
internal_sample_rate = auto
record_conference = no

; The citizen is never left alone in a room: end_marked makes the citizen
; leave when the last operator (marked) has gone, and linkdesk-conference
; then queues the citizen at the head of their queue. Talk detection feeds
; /v1/conferences' `talking`.
[{CITIZEN_PROFILE}]
type = user
quiet = yes
announce_user_count = no
announce_only_user = no
wait_marked = no
end_marked = yes
dsp_drop_silence = yes
talk_detection_events = yes

[{OPERATOR_PROFILE}]
type = user
quiet = yes
announce_user_count = no
announce_only_user = no
marked = yes
dsp_drop_silence = yes
talk_detection_events = yes

; An operator's keys in a room: leave, cancel the call to the other
; platform while it rings, and "we take the matter" (the ownership decision).
[{MENU}]
type = menu
{plan.keys['leave']} = leave_conference
{plan.keys['cancel']} = dialplan_exec(linkdesk-conference-key,cancel,1)
{plan.keys['take']} = dialplan_exec(linkdesk-conference-key,take,1)
"""


def render_manager(plan: PbxDialplan) -> str:
    """linkdesk's AMI user (least privilege, from linkdesk's host only) and the
    [general] settings its events need."""
    if plan.ami_secret is None:
        raise KitError(f"pbx.{plan.pbx}: the manager.conf user needs the AMI secret (secret, secret_file "
                       f"or LINKDESK_PBX_{plan.pbx.upper()}_SECRET)")
    return f"""; Every channel event carries the variables linkdesk reads; events carry a timestamp.
[general](+)
channelvars = {",".join(CHANNEL_VARS)}
timestampevents = yes

[{plan.ami_user}]
secret = {plan.ami_secret}
deny = 0.0.0.0/0.0.0.0
permit = {plan.ami_permit}
read = {AMI_READ}
write = {AMI_WRITE}
writetimeout = 5000
"""


def render_queues(plan: PbxDialplan) -> str:
    """Added to each of the site's operator queues: the caller's channel learns
    its queue and member, which a returned citizen goes back to; the member
    who answers runs the whisper (which passes other calls straight through)."""
    settings = "".join(f"{name} = {value}\n" for name, value in QUEUE_SETTINGS)
    return "".join(f"\n[{queue}](+)\n{settings}" for queue in plan.queues)


def render_pjsip(plan: PbxDialplan, freepbx: bool) -> str:
    """The trunk's settings: identified by source address only, never by the
    From user; the citizen's number (withheld too) in P-Asserted-Identity."""
    settings = "".join(f"{name} = {value}\n" for name, value in TRUNK_SETTINGS)
    if freepbx:
        return "".join(f"\n[{trunk}](+)\n{settings}" for trunk in plan.trunks)
    names = " and ".join(f"[{trunk}]" for trunk in plan.trunks)
    return (f"; The site's trunk endpoint {names} {'inherit' if plan.more_trunks else 'inherits'} this template, e.g.\n"
            f"; [{plan.trunk}]({TRUNK_TEMPLATE}) or [{plan.trunk}](your-template,{TRUNK_TEMPLATE}).\n"
            f"[{TRUNK_TEMPLATE}](!)\ntype = endpoint\n{settings}")


def write_kit(plan: PbxDialplan, folder: Path, layout: str = "plain") -> list[KitFile]:
    """Render the whole kit, then write it into `folder` (the PBX's astetcdir);
    nothing is written if any file fails to render. Returns the files written
    (each at `folder / item.name`), for `add_includes`. The manager file
    holds a secret: it is readable by its owner and group only."""
    files = kit(plan, layout)
    folder.mkdir(parents=True, exist_ok=True)
    for item in files:
        path = folder / item.name
        path.write_text(item.text)
        if item.name == "linkdesk-manager.conf":
            os.chmod(path, 0o640)
    return files


def whisper_prompts(plan: PbxDialplan) -> list[Prompt]:
    """The prompts linkdesk-whisper plays on this PBX (its whispered lanes, both languages)."""
    return [item for item in prompts(plan.source, plan.whisper_accept, plan.whisper_reject)
            if item.lane in plan.whisper_lanes]


def write_whisper_prompts(plan: PbxDialplan, root: Path = Path("/")) -> tuple[list[Path], list[Path]]:
    """Render the whisper's prompts into the plan's `sounds_dir`, under `root`
    (a chroot or a staging copy of the PBX host); (written, kept: a site's
    own file in a prompt's place stays)."""
    return write_prompts(whisper_prompts(plan), root / plan.sounds_dir.lstrip("/"))


def add_includes(files: list[KitFile], folder: Path) -> list[Path]:
    """Add each kit file's `#include` line to the site file that brings it in,
    where it is missing (at the end, or at the top where the file uses what
    it includes); a FreePBX custom file that does not exist yet is created.
    Returns the site files changed. Running it again changes nothing."""
    changed = []
    for item in files:
        site = folder / item.include_from
        lines = site.read_text().splitlines() if site.exists() else []
        if any(line.strip() in (item.include_line, f'#include "{item.name}"') for line in lines):
            continue
        lines = [item.include_line, *lines] if item.position == "top" else [*lines, item.include_line]
        site.write_text("\n".join(lines) + "\n")
        changed.append(site)
    return changed
