"""The connection-status widget. It takes over the root that ``static/early.js`` painted before
Python was up (the same markup), so the element never flashes nor holds two roots.

A close reason is written with ``textContent`` (never ``innerHTML``), so a reason like
``<img src=x onerror=alert(1)>`` shows as text; the widget writes the DOM only when what it
shows changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import dom
from .core import Health, State
from .status import status_view
from .stores import Readable


class StatusWidget:
    """The connection-status component mounted into one element; ``unmount()`` undoes it."""

    def __init__(self, element: Any, health: Readable[Health], clock: Callable[[], float]) -> None:
        self._clock = clock
        self._element = element
        self._root, self._text, self._detail = _first_paint(element) or _new_root()
        self._health: Health | None = None
        self._shown: tuple[str, str, str, str] | None = None
        self._ticker = dom.Ticker(self._render, 250)
        element.replaceChildren(self._root)  # the same root stays: its nodes are not redrawn
        self._unsubscribe = health.subscribe(self._on_health)

    def _on_health(self, health: Health) -> None:
        self._health = health
        if health.state is State.RECONNECTING or health.state is State.CONNECTING:
            self._ticker.start()  # the countdown moves without any new event
        else:
            self._ticker.stop()
        self._render()

    def _render(self) -> None:
        if self._health is None:
            return
        view = status_view(self._health, self._clock())
        shown = (view.status, view.css_class, view.text, view.detail)
        if shown == self._shown:
            return
        self._shown = shown
        self._root.className = f"connection-status {view.css_class}"
        self._root.setAttribute("data-status", view.status)
        self._text.textContent = view.text
        self._detail.textContent = view.detail

    def unmount(self) -> None:
        self._unsubscribe()
        self._ticker.close()
        self._root.remove()


def _new_root() -> tuple[Any, Any, Any]:
    """The component's root, text and detail elements."""
    root = dom.element("div", "connection-status")
    root.setAttribute("role", "status")
    root.setAttribute("aria-live", "polite")
    text = dom.element("span", "text")
    detail = dom.element("span", "detail")
    root.append(dom.element("span", "indicator"), text, detail)
    return root, text, detail


def _first_paint(element: Any) -> tuple[Any, Any, Any] | None:
    """The root that static/early.js rendered into ``element`` before Python was up (the same
    markup as ``_new_root``, showing ``Connecting...``), to be taken over; None if there is none."""
    root = dom.query(element, ":scope > .connection-status")
    if root is None:
        return None
    text = dom.query(root, ":scope > .text")
    detail = dom.query(root, ":scope > .detail")
    if text is None or detail is None:
        return None
    return root, text, detail


def mount_status(
    health: Readable[Health], clock: Callable[[], float], selector: str = "[data-ws-status]"
) -> list[StatusWidget]:
    """Mount the status component into every element matching ``selector``."""
    return [
        StatusWidget(element, health, clock) for element in dom.document.querySelectorAll(selector)
    ]
