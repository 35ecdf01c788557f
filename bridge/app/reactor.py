"""Twisted on asyncio: one process, one event loop, shared with panoramisk.

`install_asyncio_reactor()` must run before anything imports
`twisted.internet.reactor` (prometheus_client.twisted does at load time).
"""

from __future__ import annotations

import asyncio
import sys


class ReactorError(RuntimeError):
    """Another Twisted reactor was installed before the asyncio one."""


def install_asyncio_reactor() -> asyncio.AbstractEventLoop:
    """Install the asyncio reactor on a new loop (once) and return that loop."""
    if "twisted.internet.reactor" in sys.modules:
        return event_loop()
    from twisted.internet import asyncioreactor

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    asyncioreactor.install(loop)
    return loop


def event_loop() -> asyncio.AbstractEventLoop:
    """The asyncio loop the installed reactor runs on; ReactorError if it is not asyncio."""
    from twisted.internet import asyncioreactor, reactor

    if not isinstance(reactor, asyncioreactor.AsyncioSelectorReactor):
        raise ReactorError(f"Twisted runs {type(reactor).__name__}, not the asyncio reactor: "
                           "install_asyncio_reactor() must run before the reactor is imported")
    return reactor._asyncioEventloop
