"""The durable outbox's storage calls issued from Python (storage-py.html; bench/storage.py).

``DurableOutbox.save`` (src/wsclient/browser.py) builds a record, ``json.dumps`` it and calls
``localStorage.setItem`` through the Pyodide proxy: one crossing into JS per send. The IndexedDB
variants cross once too, into ``__storage.put`` (pages/storage.js), as a helper in
static/wsclient.js would be called; the transaction is opened in JS.
"""

import json

from js import Date, localStorage, window
from pyodide.ffi import create_proxy

PAGE = int(Date.now())
_st = window.__storage


def _record(text: str, seq: int) -> str:
    return json.dumps(
        {
            "order": [PAGE, seq],
            "kind": "send",
            "type": "chat.message",
            "text": text,
            "tagged": True,
            "timeout": None,
            "expires": None,
        }
    )


class StoragePy:
    def write(self, variant: str, text: str, n: int, tag: str) -> None:
        prefix = _st.key(tag, "")
        if variant == "ls":
            storage = localStorage
            for i in range(n):
                storage.setItem(prefix + str(i), _record(text, i))
        elif variant == "none":
            sink = 0
            for i in range(n):
                sink += len(prefix + str(i)) + len(_record(text, i))
        else:
            put = _st.put
            for i in range(n):
                put(variant, prefix + str(i), _record(text, i))

    def remove(self, variant: str, n: int, tag: str) -> None:
        prefix = _st.key(tag, "")
        if variant == "ls":
            storage = localStorage
            for i in range(n):
                storage.removeItem(prefix + str(i))
        elif variant == "none":
            sink = 0
            for i in range(n):
                sink += len(prefix + str(i))
        else:
            drop = _st.drop
            for i in range(n):
                drop(variant, prefix + str(i))


window.__storagePy = create_proxy(StoragePy())
window.__pyReady = True
