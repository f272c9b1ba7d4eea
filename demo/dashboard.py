"""The demo's live dashboard (``index.html``): controls, health, projects, processes, files, feed.

Everything the network sends is written with ``textContent`` (never ``innerHTML``), so a close
reason or an event field like ``<img src=x onerror=alert(1)>`` shows as text. Rendering is driven
by store subscriptions and coalesced to at most one DOM update per animation frame, so a flood of
events costs one render per frame, not one per message; lists touch only the rows that changed.
What must not wait for a frame (animation frames pause in a hidden tab) is taken when the store
changes: each connection state change, stamped with the client's clock, for the timeline, and
each delivered batch of messages for the feed's own memory.
It is an app of the client: it uses ``wsclient``'s public API and DOM helpers, and ships
neither in the wheel nor in the embedding config (``demo/pyscript.toml`` loads it).
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wsclient import dom
from wsclient.app import loads
from wsclient.core import Health
from wsclient.messages import (
    FileEvent,
    FileInfo,
    Message,
    ProcessEvent,
    ProjectEvent,
    ProjectSnapshot,
    to_wire,
)
from wsclient.router import ConnectionState, ProcessInfo
from wsclient.stores import Readable

from .activity import (
    SPARK_SAMPLES,
    Feed,
    Rate,
    Timeline,
    auth_text,
    eta,
    human_size,
    rate_text,
    reconnect_count,
    sparkline,
    tabs_text,
)

if TYPE_CHECKING:
    from wsclient.app import Client

Unsubscriber = Callable[[], None]
Reading = tuple[float, float]  # (time, progress) of a process

NOTHING = "\u2013"  # an en dash stands for "no value yet"
FEED_LENGTH = 50  # events shown in the feed, newest first
# The feed is the costliest section (50 rows rebuilt); under a flood it is redrawn at most this
# often, which people cannot tell from every frame but which leaves the page time for input.
FEED_INTERVAL = 0.1


_LISTS = frozenset({"projects", "processes", "files"})

#: Rows each list shows at first; "Show more" adds this many again.
ROWS = 50


class KeyedList:
    """A bounded list of rows keyed by what they show, most recently changed first.

    ``changed(key)`` marks a row; ``render()`` touches only the marked rows and the rows shown, so
    a frame costs O(changes + rows shown), whatever the number of keys behind the list. At most
    ``limit`` rows are in the DOM; a footer says how many more there are and a "Show more" button
    raises the limit. ``lookup(key)`` gives a row's current value (None: the row is gone, e.g.
    deleted or dropped by retention), ``fill(element, key, value)`` writes it, and ``total()``
    counts the keys there are.
    """

    def __init__(
        self,
        container: Any,
        lookup: Callable[[Any], Any],
        fill: Callable[[Any, Any, Any], None],
        total: Callable[[], int],
        tag: str = "li",
    ) -> None:
        self._container = container
        self._lookup = lookup
        self._total = total
        self._fill = fill
        self._tag = tag
        self.limit = ROWS
        self._recent: OrderedDict[Any, None] = OrderedDict()  # every key, most recent last
        self._shown: OrderedDict[Any, Any] = OrderedDict()  # key -> element, most recent last
        self._changed: dict[Any, None] = {}  # marked since the last render, in order
        self._more = dom.element("button", "more")
        self._more.setAttribute("type", "button")
        self._footer = dom.element("div", "list-footer")
        self._footer.append(self._more)
        self._footer.hidden = True
        container.after(self._footer)
        self._remove_listener = dom.listen(self._more, "click", self._show_more)

    def __len__(self) -> int:
        return len(self._recent)

    def changed(self, key: Any) -> None:
        self._changed.pop(key, None)  # the latest change counts: last in the order
        self._changed[key] = None

    def _show_more(self, _event: Any) -> None:
        self.limit += ROWS
        self.render()

    def render(self) -> None:
        changed, self._changed = list(self._changed), {}
        recent, shown = self._recent, self._shown
        # Only the newest `limit` changes can be on screen after this render: older ones just
        # move in the recency order (a burst of 10,000 new files builds 50 rows, not 10,000).
        visible_from = len(changed) - self.limit
        for index, key in enumerate(changed):
            value = self._lookup(key)
            element = shown.pop(key, None)
            if value is None:
                recent.pop(key, None)
                if element is not None:
                    element.remove()
                continue
            recent[key] = None
            recent.move_to_end(key)
            if index < visible_from:
                if element is not None:
                    element.remove()
                continue
            if element is None:
                element = dom.document.createElement(self._tag)
            self._fill(element, key, value)
            self._container.prepend(element)
            shown[key] = element
        for key in [k for k in shown if self._lookup(k) is None]:  # removed behind our back
            shown.pop(key).remove()
            recent.pop(key, None)
        while len(shown) > self.limit:  # the least recently changed rows leave the DOM
            _, element = shown.popitem(last=False)
            element.remove()
        if len(shown) < self.limit and len(recent) > len(shown):
            self._backfill()
        total = self._total()
        if len(recent) > 2 * total + ROWS:  # keys removed while not shown: prune, amortized O(1)
            for key in [k for k in recent if self._lookup(k) is None]:
                del recent[key]
        hidden = max(0, total - len(shown))
        self._footer.hidden = hidden == 0
        self._more.textContent = f"{hidden} more \u2013 show {min(ROWS, hidden)} more"

    def _backfill(self) -> None:
        """Rows freed by removals are taken by the next most recent keys, at the bottom."""
        missing: list[Any] = []
        for key in reversed(self._recent):
            if len(self._shown) + len(missing) >= self.limit:
                break
            if key not in self._shown:
                missing.append(key)
        for key in missing:
            value = self._lookup(key)
            if value is None:
                self._recent.pop(key, None)
                continue
            element = dom.document.createElement(self._tag)
            self._fill(element, key, value)
            self._container.append(element)
            self._shown[key] = element
            self._shown.move_to_end(key, last=False)

    def refresh(self) -> None:
        """Write the shown rows again (something they show besides their value changed)."""
        for key, element in self._shown.items():
            value = self._lookup(key)
            if value is not None:
                self._fill(element, key, value)

    def close(self) -> None:
        self._remove_listener()


#: What a subscribed project's chip says when it is not simply live (docs/protocol.md).
SYNC_LABELS = {
    "recovering": "catching up\u2026",
    "reset": "reloaded from snapshot",
    "stale": "may be out of date",
}


class Dashboard:
    """The live dashboard in ``index.html``: controls, health, projects, processes, files, feed.

    Store changes only mark a section dirty; one animation frame renders the dirty sections.
    """

    def __init__(self, client: Client, root: Any) -> None:
        self._client = client
        self._doc = dom.document
        self._dirty: set[str] = set()
        self._frame = dom.FrameScheduler(self._render)
        self._values: dict[str, Any] = {}
        self._feed_drawn_at = float("-inf")
        self._disposers: list[Unsubscriber] = []
        # The activity figures (timeline, sparkline, messages/s, ETA) are drawn only where the
        # page has them: a page without ``#timeline`` pays for none of them.
        self._activity = dom.element_by_id("timeline") is not None
        self._health: Health | None = None  # the last one, for the sign-in countdown
        self._timeline = Timeline()
        self._feed: Feed[Message] = Feed()
        self._rate = Rate()
        self._received = 0  # messages counted by _on_message since the last tick
        self._rtts: deque[float] = deque(maxlen=SPARK_SAMPLES)
        self._rtt_samples = 0  # RTT samples drawn so far
        # Each running process: its first and its latest (time, progress) reading, for its ETA.
        self._progress_seen: dict[tuple[str, str], tuple[Reading, Reading]] = {}
        sources: dict[str, Readable[Any]] = {
            "health": client.health,
            "dropped": client.dropped,
            "subscriptions": client.subscriptions,
            "sync": client.sync,
            "projects": client.projects,
            "processes": client.processes,
            "files": client.files,
        }
        for name, store in sources.items():
            self._disposers.append(store.subscribe(self._marker(name)))
        # Taken when they change, not at render time: a frame may be long in coming.
        self._mark_state, self._mark_feed = self._marker("state"), self._marker("feed")
        self._disposers.append(client.state.subscribe(self._on_state))
        self._disposers.append(client.messages.subscribe(self._on_messages))
        # The stores' values are live views: read at render time, they are up to date.
        projects, processes, files = (self._values[k] for k in ("projects", "processes", "files"))
        self._projects = KeyedList(
            self._by_id("projects"), projects.get, self._fill_project, lambda: len(projects)
        )
        self._processes = KeyedList(
            self._by_id("processes"),
            lambda key: processes.get(key[0], {}).get(key[1]),
            self._fill_process,
            lambda: sum(len(by_id) for by_id in processes.values()),
        )
        self._files = KeyedList(
            self._by_id("files"),
            lambda key: files.get(key[0], {}).get(key[1]),
            self._fill_file,
            lambda: sum(len(by_path) for by_path in files.values()),
        )
        self._disposers.append(client.on("*", self._on_message))
        self._ticker = dom.Ticker(self._tick, 1000)
        if self._activity:
            self._ticker.start()
        self._wire_controls()
        root.setAttribute("aria-busy", "false")

    def _tick(self) -> None:
        """Once a second: the timeline moves on, the rate is read."""
        now = self._client.clock()
        self._rate.add(now, self._received)
        self._received = 0
        self._by_id("rate").textContent = rate_text(self._rate.per_second(now))
        self._draw_timeline(now)
        self._render_auth(now)

    def _on_state(self, state: ConnectionState) -> None:
        """Every change of the connection's state, when it happens (even in a hidden tab)."""
        if self._activity:
            self._timeline.record(self._client.clock(), str(state.status))
        self._mark_state(state)

    def _on_messages(self, window: Sequence[Message]) -> None:
        """Each delivered batch: the feed keeps the new messages before the window moves on."""
        self._feed.take(window)
        self._mark_feed(window)

    def _draw_timeline(self, now: float) -> None:
        """The strip (a segment per state, a mark per reconnect however short), its count and
        its accessible name; from the recorded changes, so O(changes in the window)."""
        if not self._activity:
            return
        strip = []
        for status, start, width in self._timeline.segments(now):
            segment = dom.element("span", f"segment {status}")
            segment.style.left = f"{start * 100:.2f}%"
            segment.style.width = f"{width * 100:.2f}%"
            segment.setAttribute("title", status)
            strip.append(segment)
        for at in self._timeline.reconnect_marks(now):
            mark = dom.element("span", "mark reconnect")
            mark.style.left = f"min({at * 100:.2f}%, calc(100% - 2px))"  # a mark now: in view
            mark.setAttribute("title", "reconnect")
            strip.append(mark)
        timeline = self._by_id("timeline")
        timeline.replaceChildren(*strip)
        timeline.setAttribute("aria-label", self._timeline.summary(now))
        self._by_id("reconnects").textContent = reconnect_count(self._timeline.reconnects(now))

    def _on_message(self, message: Message) -> None:
        """Mark the rows a domain event changed (the stores already hold its effect)."""
        if self._activity:
            self._received += 1
        kind = type(message)
        if kind is FileEvent:
            self._files.changed((message.project_id, message.file.path))  # type: ignore[union-attr]
        elif kind is ProcessEvent:
            self._processes.changed((message.project_id, message.process_id))  # type: ignore[union-attr]
        elif kind is ProjectEvent:
            self._projects.changed(message.project_id)  # type: ignore[union-attr]
        elif kind is ProjectSnapshot:
            snapshot: ProjectSnapshot = message  # type: ignore[assignment]
            self._projects.changed(snapshot.project_id)
            for file in snapshot.files:
                self._files.changed((snapshot.project_id, file.path))
            for process in snapshot.processes:
                self._processes.changed((snapshot.project_id, process.process_id))

    def _marker(self, name: str) -> Callable[[Any], None]:
        def mark(value: Any) -> None:
            self._values[name] = value
            self._dirty.add(name)
            self._frame.request()

        return mark

    def _by_id(self, element_id: str) -> Any:
        return self._doc.getElementById(element_id)

    def _wire_controls(self) -> None:
        client = self._client
        self._disposers += [
            dom.listen(self._by_id("connect-btn"), "click", lambda _e: client.connect()),
            dom.listen(self._by_id("disconnect-btn"), "click", lambda _e: client.disconnect()),
            dom.listen(self._by_id("subscribe-form"), "submit", self._on_subscribe),
            dom.listen(self._by_id("send-form"), "submit", self._on_send),
            dom.listen(self._by_id("subscriptions"), "click", self._on_chip_click),
            dom.listen(self._by_id("feed-heartbeats"), "change", self._on_feed_toggle),
        ]

    def _on_feed_toggle(self, _event: Any) -> None:
        self._dirty.add("feed")
        self._feed_drawn_at = float("-inf")
        self._frame.request()

    def _on_subscribe(self, event: Any) -> None:
        event.preventDefault()
        field = self._by_id("project-input")
        project_id = str(field.value).strip()
        if project_id and project_id not in self._values.get("subscriptions", ()):
            self._client.subscribe(project_id)
        field.value = ""

    def _on_chip_click(self, event: Any) -> None:
        project_id = event.target.getAttribute("data-unsubscribe")
        if project_id:
            self._client.unsubscribe(str(project_id))

    def _on_send(self, event: Any) -> None:
        event.preventDefault()
        error = self._by_id("send-error")
        try:  # the client's own reader: JSON nested too deep is refused, not a RecursionError
            self._client.send(loads(str(self._by_id("send-input").value)))
        except Exception as exc:  # whatever the text, the form says why; nothing reaches the page
            error.textContent = f"Not sent: {exc}"
        else:
            error.textContent = ""

    def _render(self) -> None:
        dirty, self._dirty = self._dirty, set()
        if "feed" in dirty:
            now = self._client.clock()
            if now - self._feed_drawn_at < FEED_INTERVAL:
                dirty.discard("feed")
                self._dirty.add("feed")
                self._frame.request()
            else:
                self._feed_drawn_at = now
        lists = dirty & _LISTS
        for name in dirty - lists:
            getattr(self, f"_render_{name}")(self._values[name])
        if lists:  # row by row: only what changed, and what is shown
            if "processes" in dirty:
                self._forget_gone_processes()
            self._projects.render()
            self._processes.render()
            self._files.render()

    def _render_state(self, _state: ConnectionState) -> None:
        self._draw_timeline(self._client.clock())
        self._processes.refresh()  # an ETA is shown only while connected

    def _connected(self) -> bool:
        state = self._values.get("state")
        return state is not None and state.status == "connected"

    def _render_health(self, health: Health) -> None:
        # Health counts the samples: two of equal value are two points, and a health change
        # for another reason is none.
        if self._activity and health.rtt is not None and health.rtt_samples != self._rtt_samples:
            self._rtt_samples = health.rtt_samples
            self._rtts.append(health.rtt)
            spark = self._by_id("rtt-spark").querySelector("polyline")
            spark.setAttribute("points", sparkline(list(self._rtts), 120.0, 22.0))
        self._by_id("queue-depth").textContent = str(health.queue_depth)
        self._by_id("queue-overflow").textContent = str(health.queue_overflow)
        rtt = NOTHING if health.rtt is None else f"{health.rtt * 1000:.0f} ms"
        self._by_id("rtt").textContent = rtt
        close = NOTHING
        if health.last_close_code is not None:
            close = f"{health.last_close_code} {health.last_close_reason}".strip()
        self._by_id("last-close").textContent = close
        self._health = health
        self._render_auth(self._client.clock())
        self._by_id("tabs").textContent = tabs_text(health.role, health.tabs)

    def _render_auth(self, now: float) -> None:
        health = self._health
        if health is not None:
            text = auth_text(health.auth, health.auth_refresh_at, now)
            self._by_id("auth").textContent = text

    def _render_dropped(self, dropped: Mapping[str, Any]) -> None:
        total = sum(stats.count for stats in dropped.values())
        self._by_id("frames-dropped").textContent = str(total)

    def _render_sync(self, _sync: Mapping[str, str]) -> None:
        self._render_subscriptions(self._values.get("subscriptions", ()))
        self._projects.refresh()

    def _render_subscriptions(self, projects: tuple[str, ...]) -> None:
        sync = self._values.get("sync", {})
        chips = []
        for project_id in projects:
            status = sync.get(project_id, "live")
            chip = dom.element("li", text=project_id)
            chip.setAttribute("data-sync", status)
            if status in SYNC_LABELS:
                chip.append(dom.element("span", "sync-note", SYNC_LABELS[status]))
            button = dom.element("button", text="\u00d7")
            button.setAttribute("type", "button")
            button.setAttribute("data-unsubscribe", project_id)
            button.setAttribute("aria-label", f"Unsubscribe from {project_id}")
            chip.append(button)
            chips.append(chip)
        self._by_id("subscriptions").replaceChildren(*chips)

    def _fill_project(self, item: Any, project_id: str, data: Mapping[str, Any]) -> None:
        item.setAttribute("data-project", project_id)
        status = self._values.get("sync", {}).get(project_id)
        if status is not None:
            item.setAttribute("data-sync", status)
        name = data.get("name") if isinstance(data, Mapping) else None
        state = data.get("status") if isinstance(data, Mapping) else None
        detail = f"  {project_id}" + (f" \u00b7 {readable(state)}" if state else "")
        item.replaceChildren(
            dom.element("strong", text=readable(name) if name else project_id),
            dom.element("span", "muted", detail),
        )

    def _fill_process(self, item: Any, key: tuple[str, str], info: ProcessInfo) -> None:
        item.setAttribute("data-process", info.process_id)
        item.setAttribute("data-state", info.status)
        bar = dom.element("progress")
        bar.max = 1
        bar.value = 1 if info.status == "completed" else (info.progress or 0)
        bar.setAttribute("aria-label", f"{info.process_id} progress")
        label = f"{info.process_id} ({info.project_id}) · {info.status}"
        if not self._activity or info.status == "completed" or info.progress is None:
            self._progress_seen.pop(key, None)
        else:
            now = self._client.clock()
            reading = (now, info.progress)
            first, last = self._progress_seen.get(key, (reading, reading))
            if info.progress != last[1]:  # a new reading (a redraw alone is none)
                last = reading
            self._progress_seen[key] = (first, last)
            remaining = eta(first, last)
            # The speed seen so far says nothing while the link is down: no ETA then.
            if remaining is not None and self._connected():
                label += f" · ETA {remaining:.0f} s"
        children = [dom.element("div", text=label), bar]
        if info.message:
            children.append(dom.element("div", "muted", info.message))
        item.replaceChildren(*children)

    def _fill_file(self, item: Any, key: tuple[str, str], info: FileInfo) -> None:
        project_id, path = key
        item.setAttribute("title", path)
        item.setAttribute("data-project", project_id)
        item.textContent = (
            f"{info.name} · {info.asset_type} · {human_size(info.size)} · {project_id}"
        )

    def _forget_gone_processes(self) -> None:
        """ETA readings of processes the store no longer has (deleted, evicted, unsubscribed)
        or that completed go with them: once per render of the processes, O(readings kept)."""
        processes = self._values["processes"]
        for key in list(self._progress_seen):
            info = processes.get(key[0], {}).get(key[1])
            if info is None or info.status == "completed":
                del self._progress_seen[key]

    def _render_feed(self, _window: Sequence[Message]) -> None:
        heartbeats = bool(self._by_id("feed-heartbeats").checked)
        items = []
        for message in self._feed.shown(FEED_LENGTH, heartbeats):
            item = dom.element("li")
            item.append(dom.element("span", "type", message.type))
            item.append(dom.element("span", text=describe(message)))
            items.append(item)
        self._by_id("feed").replaceChildren(*items)
        self._by_id("feed-count").textContent = f"({self._feed.kept(heartbeats)} kept)"

    def close(self) -> None:
        for dispose in self._disposers:
            dispose()
        for rows in (self._projects, self._processes, self._files):
            rows.close()
        self._ticker.close()
        self._frame.close()


def default_projects(root: Any) -> list[str]:
    """The projects the dashboard subscribes when the URL names none
    (``<main id="dashboard" data-projects="alpha,beta">``)."""
    names = str(root.getAttribute("data-projects") or "")
    return [name.strip() for name in names.split(",") if name.strip()]


def readable(value: object) -> str:
    """A value as people read it: strings as they are, anything else as JSON (never repr)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def describe(message: Message) -> str:
    """One line for the event feed: the message's fields but its type and timestamp."""
    fields = {k: v for k, v in to_wire(message).items() if k not in ("type", "timestamp")}
    return json.dumps(fields, default=str, ensure_ascii=False)[:300]
