"""[pbx.NAME.dialplan]: what the rendered kit needs to know of one PBX."""

from __future__ import annotations

from linkdesk.bridge.app.config_error import ConfigError, typed
from linkdesk.bridge.core.endpoints import is_endpoint_name
from linkdesk.bridge.core.transfer_model import TransferPlan
from linkdesk.dialplan.keys import DEFAULT_KEYS, KitError, check_keys
from linkdesk.dialplan.plan import DEFAULT_AGI, PbxDialplan



def pbx_dialplan(name: str, pbx: dict, plan: TransferPlan, secret: str | None,
                 instances: tuple[str, ...] = ()) -> PbxDialplan:
    """[pbx.NAME.dialplan], with the targets of the PBX's transfer plan on each
    lane, the PBX's AMI login (for the manager.conf user; `secret` if known)
    and the instances the dialplan tries ([cluster], else its agi_url)."""
    where = f"pbx.{name}.dialplan"
    fields = typed(pbx["dialplan"], {"trunk": (str, list), "home_queue": str, "agi_url": str, "keys": dict,
                                      "queues": list, "digit_timeout": int, "ami_permit": str,
                                      "refused_sound": str, "whisper_lanes": list, "whisper_accept": str,
                                      "whisper_reject": str, "whisper_wait": int, "sounds_dir": str}, where)
    missing = {"trunk", "home_queue"} - set(fields)
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(sorted(missing))}")
    fields["trunk"], fields["more_trunks"] = _trunks(fields["trunk"], where)
    keys = fields.pop("keys", {})
    unknown = set(keys) - set(DEFAULT_KEYS)
    if unknown:
        raise ConfigError(f"{where}.keys: unknown key(s) {', '.join(sorted(unknown))}; "
                          f"each of {', '.join(DEFAULT_KEYS)} is a key sequence like \"*5\"")
    keys = {**DEFAULT_KEYS, **keys}
    try:
        check_keys(keys, where)
    except KitError as exc:
        raise ConfigError(str(exc)) from None
    queues = fields.pop("queues", [fields["home_queue"]])
    if not all(isinstance(queue, str) and queue for queue in queues) or fields["home_queue"] not in queues:
        raise ConfigError(f"{where}.queues: a list of queue names that includes home_queue {fields['home_queue']!r}")
    if "whisper_lanes" in fields:
        fields["whisper_lanes"] = tuple(fields["whisper_lanes"])
    lanes = {lane: tuple(to for to, on in plan.targets if on == lane) for lane in ("normal", "emergency")}
    if instances and "agi_url" in fields:
        raise ConfigError(f"{where}.agi_url and cluster.instances: give one (the instances serve every PBX)")
    fields["agi_urls"] = instances or (fields.pop("agi_url", DEFAULT_AGI),)
    numbers = tuple((to, exten) for (to, lane), exten in plan.targets.items() if lane == "normal")
    return PbxDialplan(pbx=name, targets=lanes["normal"], emergency=lanes["emergency"], keys=keys,
                       target_numbers=numbers,
                       queues=tuple(queues), ami_user=pbx.get("username", "linkdesk"), ami_secret=secret,
                       **fields)


def _trunks(value: str | list, where: str) -> tuple[str, tuple[str, ...]]:
    """`trunk = "to-110"`, or a list when the other platform runs on several
    PBXs (dialled in turn, each believed for handed-over calls): the first and the others."""
    trunks = [value] if isinstance(value, str) else value
    if not trunks or not all(is_endpoint_name(t) for t in trunks) \
            or len(set(trunks)) != len(trunks):
        raise ConfigError(f"{where}.trunk: a PJSIP endpoint's name, or a list of different ones "
                          f"(letters, digits, . _ -), got {value!r}")
    return trunks[0], tuple(trunks[1:])
