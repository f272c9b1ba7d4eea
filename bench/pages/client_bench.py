"""The client's full path for the throughput bench: parse, typed dispatch to a Python listener,
every domain store updated, with subscribers on ``messages`` and ``processes``.

Protocol with the harness: see ``bench.js``; and for the offsets bench (``bench/v2.py``):
server -> ``{"type": "bench.subscribe", "project": p}``: subscribe to ``p``; once the first
snapshot made it ``live`` (the client holds a position for it), send ``bench.subscribed``."""

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

    def subscribe(self, message: GenericMessage) -> None:
        project = str(message.fields["project"])
        told: list[bool] = []

        def watch(statuses: Any) -> None:
            if statuses.get(project) == "live" and not told:
                told.append(True)
                client.send({"type": "bench.subscribed", "project": project})

        client.sync.subscribe(watch)
        client.subscribe(project)


counter = Counter()
client.on("bench.arm", counter.arm)
client.on("bench.subscribe", counter.subscribe)
client.on("process.progress", counter.on_progress)
client.messages.subscribe(counter.keep_messages)
client.processes.subscribe(counter.keep_processes)
js.eval("window.__bench.send = (obj) => window.wsclient.send(obj)")
client.send({"type": "bench.ready"})
