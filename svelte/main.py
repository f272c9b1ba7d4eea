"""svelte.html's Python entry: the page's client, exactly as ``src/main.py`` starts it, plus one
read-only diagnostic for the e2e tests.

``window.wsclientSubscribers(name)`` is how many subscriptions the Python store ``name``
(``state``, ``messages``, ``health`` or ``sync``) has right now: the tests check that unmounting
the Svelte components leaves none behind. It reads a private attribute of ``wsclient.stores``
because the package exposes no subscriber count (see docs/svelte.md).
"""

from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from wsclient import app

client = app.start()


def subscribers(name: str) -> int:
    store: Any = getattr(client, name)
    while hasattr(store, "_source"):  # readonly() faces
        store = store._source
    return len(store._subscriptions)


js.window.wsclientSubscribers = create_proxy(subscribers)
