"""The client's full path for the throughput bench: parse, typed dispatch to a Python listener,
every domain store updated, with subscribers on ``messages`` and ``processes``.

Protocol with the harness: see ``bench.js``."""

from typing import Any

import js  # type: ignore[import-not-found]

from wsclient import app
from wsclient.messages import GenericMessage, ProcessEvent

client = app.start()
bench = js.window.__bench


class Counter:
    """Counts ``process.progress`` messages and tells the page when the target is reached."""

    __slots__ = ("count", "last", "messages", "processes", "target")

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.last: ProcessEvent | None = None
        self.messages: Any = None
        self.processes: Any = None

    def arm(self, message: GenericMessage) -> None:
        self.count = 0
        self.target = int(message.fields["n"])

    def on_progress(self, message: ProcessEvent) -> None:
        self.last = message
        self.count += 1
        if self.count == self.target:
            bench.finish(self.target)

    def keep_messages(self, window: Any) -> None:
        self.messages = window

    def keep_processes(self, processes: Any) -> None:
        self.processes = processes


counter = Counter()
client.on("bench.arm", counter.arm)
client.on("process.progress", counter.on_progress)
client.messages.subscribe(counter.keep_messages)
client.processes.subscribe(counter.keep_processes)
js.eval("window.__bench.send = (obj) => window.wsclient.send(obj)")
client.send({"type": "bench.ready"})
