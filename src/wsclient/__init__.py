"""wsclient: a resilient real-time WebSocket client for the browser, written in Python.

The store functions follow Svelte's store contract (``svelte/store``): ``writable``, ``readable``,
``derived``, ``get``, ``readonly``. ``callback_errors`` is a read-only store that counts the user
callbacks (subscribers, derived functions, listeners) that raised; see ``wsclient.stores``.
The page's client is ``wsclient.app.start()``; the connection logic is ``wsclient.core``.
"""

from .stores import (
    Readable,
    Writable,
    callback_errors,
    derived,
    get,
    readable,
    readonly,
    writable,
)

__all__ = [
    "Readable",
    "Writable",
    "callback_errors",
    "derived",
    "get",
    "readable",
    "readonly",
    "writable",
]

__version__ = "0.1.0"
