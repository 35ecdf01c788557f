"""`linkdesk_queue_lane`: each queue's lane, from the config's
[metrics] emergency_queues, for alerts and panels to select queues by."""

from __future__ import annotations

import pytest

from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.metrics.wiring import build_metrics


def _config(tmp_path, metrics: str):
    path = tmp_path / "c.toml"
    path.write_text(f'[metrics]\n{metrics}\n[pbx.110]\nsecret = "x"\n')
    return load_config(str(path), env={})


def _join(book, pbx: str, queue: str) -> None:
    book.on_event(pbx, {"Event": "QueueCallerJoin", "Queue": queue, "Uniqueid": f"{queue}-1", "Timestamp": "1"})


def test_a_configured_emergency_queue_is_on_the_emergency_lane_and_others_on_the_normal_one(tmp_path):
    config = _config(tmp_path, 'emergency_queues = { "110" = ["110-emergency"] }')
    metrics = build_metrics(config.metrics)
    for pbx, queue in (("110", "110-emergency"), ("110", "110-intake"), ("12345", "110-emergency")):
        _join(metrics.queues, pbx, queue)

    def lane(pbx: str, queue: str, name: str) -> float | None:
        return metrics.registry.get_sample_value("linkdesk_queue_lane", {"pbx": pbx, "queue": queue, "lane": name})

    assert lane("110", "110-emergency", "emergency") == 1 and lane("110", "110-emergency", "normal") is None
    assert lane("110", "110-intake", "normal") == 1
    assert lane("12345", "110-emergency", "normal") == 1, "a queue is on the lane of its own PBX's list only"


@pytest.mark.parametrize("value", ['["110-emergency"]', '{ "110" = "110-emergency" }', '{ "110" = [""] }'])
def test_a_malformed_emergency_queues_setting_is_named(tmp_path, value):
    with pytest.raises(ConfigError, match="metrics.emergency_queues"):
        _config(tmp_path, f"emergency_queues = {value}")
