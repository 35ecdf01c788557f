"""How much work the process holds, read at scrape time: asyncio tasks alive
on its loop and the background steps the services started. Both stay flat
under a steady load; a climb is a leak (the busy hour's soak watches them)."""

from __future__ import annotations

import asyncio
from typing import Callable, Sized

from prometheus_client.core import GaugeMetricFamily

TASKS = ("linkdesk_tasks", "asyncio tasks alive on linkdesk's loop")
STEPS = ("linkdesk_background_steps", "Background steps (transfers' and orders' follow-ups) still running")


class TaskGauges:
    """`tasks_alive()` is read from the scrape thread: asyncio.all_tasks is
    safe to call from there (it copies the loop's weak set, retrying if it
    changes meanwhile), and the count of background steps is a len()."""

    def __init__(self, tasks_alive: Callable[[], int], steps: Sized):
        self.tasks_alive, self.steps = tasks_alive, steps

    def describe(self):
        yield GaugeMetricFamily(*TASKS)
        yield GaugeMetricFamily(*STEPS)

    def collect(self):
        yield GaugeMetricFamily(*TASKS, value=self.tasks_alive())
        yield GaugeMetricFamily(*STEPS, value=len(self.steps))


def loop_tasks(loop: asyncio.AbstractEventLoop) -> Callable[[], int]:
    """The count of not-yet-done tasks of `loop`, from any thread."""
    return lambda: len(asyncio.all_tasks(loop))
