"""What the rendered kit needs to know of one PBX: one `PbxDialplan`, read by
render.py (the dialplan), whisper.py, consult.py and kit.py (the other files)."""

from __future__ import annotations

from dataclasses import dataclass, field

from linkdesk.dialplan.contract import feature_names
from linkdesk.dialplan.keys import DEFAULT_KEYS

DEFAULT_AGI = "agi://127.0.0.1:4573"
AGI_DONE = "linkdesk_agi_done"     # the label after the instances' FastAGI tries
DIAL_DONE = "linkdesk_dial_done"   # the label after the trunks' Dial tries
# A Dial that did not reach the far PBX at all: the next trunk may (a busy or
# unanswered call did reach a person's platform and is not tried again).
UNREACHED = ("CHANUNAVAIL", "CONGESTION")


@dataclass(frozen=True)
class PbxDialplan:
    """What the rendered files need to know of one PBX."""

    pbx: str
    trunk: str                      # PJSIP endpoint towards the other platform
    home_queue: str                 # where a returned citizen queues when nobody else will take them
    more_trunks: tuple[str, ...] = ()   # towards the other platform's other PBXs, tried in turn after `trunk`
    agi_urls: tuple[str, ...] = (DEFAULT_AGI,)   # the linkdesk instances' FastAGI, tried in this order
    targets: tuple[str, ...] = ()   # platforms reachable on the normal lane
    emergency: tuple[str, ...] = () # platforms reachable on the emergency lane
    keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    queues: tuple[str, ...] = ()    # the queues whose members are operators (queue settings, site check)
    digit_timeout: int = 1000       # features.conf featuredigittimeout: ms allowed between a key's digits
    ami_user: str = "linkdesk"
    ami_secret: str | None = field(default=None, repr=False)   # for the manager.conf user; None: not known
    ami_permit: str = "127.0.0.1/255.255.255.255"              # where linkdesk logs in from
    refused_sound: str = "beeperr"  # what an operator hears when a key is refused (a sound file's name)
    target_numbers: tuple[tuple[str, str], ...] = ()   # (platform, number dialled over the trunk), normal lane
    whisper_lanes: tuple[str, ...] = ("normal", "emergency")   # lanes whose receiver hears the whisper
    whisper_accept: str = "1"       # the receiver's key: bridge now
    whisper_reject: str = "2"       # the receiver's key: send the citizen back
    whisper_wait: int = 2           # s the receiver has to press a key after the normal lane's prompt
    sounds_dir: str = "/usr/local/share/asterisk/sounds/linkdesk"   # the whisper's prompts, on the PBX's host

    def agi(self, route: str) -> str:
        """The steps that run FastAGI `route` (name?args, no comma) at the first
        instance that can be reached: AGI() itself when there is one. Several
        are tried inline, in the extension that asks (one AGI per extension:
        the label is the extension's): not in a Gosub of their own, because the
        key's route must see its own context (agi_context) and a Redirect must
        not find the channel inside a subroutine. On to the next only when one
        could not be reached (AGISTATUS FAILURE: refused, or no answer in
        Asterisk's 2 s); a session that ran, even one cut short, is not repeated."""
        return _in_turn([f"AGI({url}/{route})" for url in self.agi_urls],
                        '"${AGISTATUS}" != "FAILURE"', AGI_DONE)

    @property
    def trunks(self) -> tuple[str, ...]:
        """Every trunk towards the other platform, in the order they are dialled."""
        return (self.trunk, *self.more_trunks)

    def dial(self, options: str) -> str:
        """The steps that dial ${EXTEN} over the trunks with `options`: one Dial
        when there is one trunk; with several, the next only when the one
        before could not reach its PBX at all (DIALSTATUS CHANUNAVAIL: a trunk
        its qualify found dead; CONGESTION), so a platform's second PBX takes
        the call its first cannot. Each try waits LINKDESK_ANSWER_TIMEOUT."""
        return _in_turn([f"Dial(PJSIP/${{EXTEN}}@{trunk},${{LINKDESK_ANSWER_TIMEOUT}},{options})"
                         for trunk in self.trunks],
                        " & ".join(f'"${{DIALSTATUS}}" != "{status}"' for status in UNREACHED), DIAL_DONE)

    @property
    def features(self) -> tuple[str, ...]:
        """The applicationmap features this PBX's operators are granted."""
        return feature_names(bool(self.targets), bool(self.emergency))

    @property
    def source(self) -> str:
        """The platform at the far end of the trunk: where handed-over calls come from."""
        return (self.targets or self.emergency or ("",))[0]


def _in_turn(steps: list[str], done_if: str, label: str) -> str:
    """`steps` (one application each) as dialplan steps tried in turn: the
    first alone when there is one; else each next one only while `done_if`
    (an expression on the one before's outcome) is false, all ending at `label`."""
    if len(steps) == 1:
        return steps[0]
    onward = f"\n same => n,GotoIf($[{done_if}]?{label})\n same => n,"
    return onward.join(steps) + f"\n same => n({label}),NoOp()"
