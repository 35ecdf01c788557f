"""Platforms named by the config, and one platform on several PBXs: the
transfer finds the operator's call on whichever PBX it is, the order's kind
follows the target's role, and the diversion metrics count by role, not by
the names 110 and 12345."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from ami_probe import on_loop
from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.bridge.core.orders import OrderService
from linkdesk.bridge.core.platforms import Platforms
from linkdesk.bridge.core.transfers import TransferPlan, TransferRequest, TransferService
from linkdesk.bridge.store.database import open_store
from linkdesk.metrics.linkage import LinkageMetrics
from test_transfers import ScriptedPbx

TWO_DESKS = """
[platforms.police-desk]
role = "police"
[platforms.city-hotline]
role = "service"

[pbx.desk_a]
platform = "police-desk"
secret = "a"
transfer = { targets = { "city-hotline" = "12345" } }
[pbx.desk_b]
platform = "police-desk"
secret = "b"
transfer = { targets = { "city-hotline" = "12345" } }
[pbx.hotline]
platform = "city-hotline"
secret = "c"
transfer = { targets = { "police-desk" = "110" } }
"""


def _config(tmp_path, text: str):
    path = tmp_path / "linkdesk.toml"
    path.write_text(text)
    return load_config(str(path), env={})


def test_the_config_names_the_platforms_their_roles_and_the_pbxs_each_runs_on(tmp_path):
    config = _config(tmp_path, TWO_DESKS)
    platforms = config.platforms
    assert platforms.pbxs_of("police-desk") == ("desk_a", "desk_b")
    assert {name: plan.platform for name, plan in config.plans.items()} == {
        "desk_a": "police-desk", "desk_b": "police-desk", "hotline": "city-hotline"}
    assert (platforms.order_kind("city-hotline"), platforms.order_kind("police-desk")) == ("work", "police")
    assert platforms.is_diversion("desk_b", "city-hotline") and not platforms.is_diversion("hotline", "police-desk")


def test_without_platforms_each_pbx_is_its_own_and_110_and_12345_keep_their_roles(tmp_path):
    platforms = _config(tmp_path, '[pbx.110]\nsecret = "x"\n[pbx.12345]\nsecret = "y"\n').platforms
    assert (platforms.platform_of("110"), platforms.pbxs_of("12345")) == ("110", ("12345",))
    assert (platforms.role("110"), platforms.role("12345")) == ("police", "service")


@pytest.mark.parametrize("text, message", [
    ('[platforms.x]\nrole = "fire"\n', 'platforms.x.role: one of police, service; got \'fire\''),
    ('[platforms.x]\ncolour = "red"\n', "platforms.x: unknown setting(s) colour"),
    ('[platforms]\nx = "police"\n', 'platforms.x: a table, like [platforms.x] role = "police"'),
    ('[pbx.110]\nsecret = "x"\nplatform = "110\\r\\n"\n', "pbx.110.platform: a platform's name"),
    ('[pbx.110]\nsecret = "x"\nplatform = 110\n', "pbx.110.platform: a platform's name"),
])
def test_a_bad_platform_setting_is_refused_naming_it(tmp_path, text, message):
    with pytest.raises(ConfigError) as refused:
        _config(tmp_path, ('[pbx.110]\nsecret = "x"\n' if "[pbx." not in text else "") + text)
    assert str(refused.value).startswith(message)


class ElsewherePbx(ScriptedPbx):
    """A PBX of the platform where the operator is in no call."""

    async def bridged_call(self, operator):
        return None


def _two_desks(store_at):
    platforms = _config_platforms()
    plans = {name: TransferPlan(name, "police-desk", {("city-hotline", "normal"): "12345"})
             for name in ("desk_a", "desk_b")}
    controls = {"desk_a": ElsewherePbx(), "desk_b": ScriptedPbx()}
    return TransferService(open_store(store_at("t.db")).transfers, plans, controls, platforms=platforms), controls


def _config_platforms() -> Platforms:
    return Platforms.of_pbxs({"desk_a": "police-desk", "desk_b": "police-desk", "hotline": "city-hotline"},
                             {"police-desk": "police", "city-hotline": "service"})


@on_loop
async def test_a_transfer_asked_for_by_platform_is_made_on_the_pbx_the_operators_call_is_on(store_at):
    service, controls = _two_desks(store_at)
    transfer = await service.request(TransferRequest(pbx="police-desk", to="city-hotline", operator="1101"))
    assert (transfer["pbx"], transfer["target"]) == ("desk_b", "city-hotline")
    assert transfer["order_id"].startswith("WO-"), "a service platform takes work orders"
    assert controls["desk_a"].actions == [] and controls["desk_b"].actions, "only desk_b moved anything"
    assert service.store.orders.get(transfer["order_id"])["from_platform"] == "police-desk"


@on_loop
async def test_an_operator_in_no_call_on_any_of_the_platforms_pbxs_is_refused_and_nothing_is_stored(store_at):
    service, controls = _two_desks(store_at)
    with pytest.raises(Exception) as refused:
        await service.request(TransferRequest(pbx="police-desk", to="city-hotline", operator="1102"))
    assert refused.value.reason == "transfer-not-bridged"
    assert service.store.active_transfers() == [] and controls["desk_b"].actions == []


@on_loop
async def test_the_platform_cancels_and_sees_a_transfer_made_on_either_of_its_pbxs(store_at):
    service, _ = _two_desks(store_at)
    transfer = await service.request(TransferRequest(pbx="police-desk", to="city-hotline", operator="1101"))
    with pytest.raises(Exception) as refused:
        await service.cancel_by_id("desk_b", transfer["id"])
    assert refused.value.reason == "transfer-not-found", "a PBX's name is not a platform's"
    with pytest.raises(Exception) as blind:
        await service.cancel_by_id("police-desk", transfer["id"])
    assert blind.value.reason == "transfer-not-cancellable", "found by its platform; a blind one has left"


def test_diversions_are_counted_by_role_from_any_pbx_of_the_police_platform():
    registry = CollectorRegistry()
    platforms = _config_platforms()
    linkage = LinkageMetrics(registry, police=platforms.is_police_pbx, diverted=platforms.is_diversion)
    transfer = {"pbx": "desk_b", "target": "city-hotline", "mode": "blind", "lane": "normal", "created_at": 0.0}
    for state in ("requested", "completed"):
        linkage.transfer_moved(transfer, state, None, 1.0)
    linkage.transfer_moved({**transfer, "pbx": "hotline", "target": "police-desk"}, "completed", None, 1.0)
    assert registry.get_sample_value("linkdesk_non_police_calls_total") == 1
    assert registry.get_sample_value("linkdesk_diverted_calls_total") == 1


def test_an_order_taken_over_becomes_the_kind_its_new_owners_role_takes(store_at):
    store = open_store(store_at("o.db"))
    orders = OrderService(store.orders, {"police-desk", "city-hotline"}, roles=_config_platforms())
    order = orders.create("police-desk", {"to": "city-hotline", "caller_number": "13800138000"})["order"]
    assert order["kind"] == "work"
    # The order of a three-way call (only such an order has an ownership decision).
    assert store.orders.update(order["id"], order["version"], {"conference_id": order["id"]})
    decided = orders.decide("city-hotline", order["id"], "police-desk")
    assert (decided["kind"], decided["to_platform"]) == ("police", "police-desk")


def test_a_transfers_direction_is_platform_to_platform_and_its_pbx_the_sending_one():
    registry = CollectorRegistry()
    platforms = _config_platforms()
    linkage = LinkageMetrics(registry, police=platforms.is_police_pbx, diverted=platforms.is_diversion,
                             platform_of=platforms.platform_of)
    transfer = {"pbx": "desk_a", "target": "city-hotline", "mode": "blind", "lane": "normal", "created_at": 0.0}
    linkage.transfer_moved(transfer, "completed", None, 1.0)
    linkage.transfer_moved({**transfer, "pbx": "desk_b"}, "returned", "no-answer", 1.0)
    value = registry.get_sample_value
    base = {"direction": "police-desk_to_city-hotline", "mode": "blind", "lane": "normal"}
    assert value("linkdesk_transfers_total", {**base, "pbx": "desk_a", "result": "completed"}) == 1
    assert value("linkdesk_transfers_total", {**base, "pbx": "desk_b", "result": "returned"}) == 1
    assert value("linkdesk_transfer_returns_total", {"direction": base["direction"], "pbx": "desk_b",
                                                     "reason": "no-answer"}) == 1
