"""linkdesk_tasks and linkdesk_background_steps: what the busy hour's soak watches for a leak."""

from __future__ import annotations

import asyncio
import threading

from prometheus_client import CollectorRegistry, generate_latest

from ami_probe import on_loop
from linkdesk.metrics.tasks import TaskGauges, loop_tasks


def _scrape(registry: CollectorRegistry) -> dict[str, float]:
    found = {}
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("linkdesk_"):
            name, value = line.split()
            found[name] = float(value)
    return found


@on_loop
async def test_the_gauges_count_live_tasks_and_steps_as_a_scrape_thread_reads_them():
    loop = asyncio.get_running_loop()
    steps = {"one", "two", "three"}
    registry = CollectorRegistry()
    registry.register(TaskGauges(loop_tasks(loop), steps))
    before = len(asyncio.all_tasks(loop))
    release = asyncio.Event()

    async def held():
        await release.wait()

    tasks = [asyncio.ensure_future(held()) for _ in range(4)]    # counted from creation, started or not
    during = {}
    scraper = threading.Thread(target=lambda: during.update(_scrape(registry)))
    scraper.start()
    scraper.join(10)      # the loop stays blocked meanwhile: the four tasks cannot end under the scrape
    assert not scraper.is_alive(), "the scrape finished"
    release.set()
    await asyncio.gather(*tasks)
    assert during["linkdesk_tasks"] == before + 4, "the four held tasks, read from the scrape thread"
    assert during["linkdesk_background_steps"] == 3
    assert _scrape(registry)["linkdesk_tasks"] == before, "ended tasks are not counted"
