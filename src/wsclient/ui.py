"""The connection-status widget (the live dashboard is ``dashboard.py``, loaded only by pages
that have one).

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
        self._root = dom.element("div", "connection-status")
        self._root.setAttribute("role", "status")
        self._root.setAttribute("aria-live", "polite")
        self._text = dom.element("span", "text")
        self._detail = dom.element("span", "detail")
        self._root.append(dom.element("span", "indicator"), self._text, self._detail)
        self._health: Health | None = None
        self._shown: tuple[str, str, str, str] | None = None
        self._ticker = dom.Ticker(self._render, 250)
        element.replaceChildren(self._root)
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


def mount_status(
    health: Readable[Health], clock: Callable[[], float], selector: str = "[data-ws-status]"
) -> list[StatusWidget]:
    """Mount the status component into every element matching ``selector``."""
    return [
        StatusWidget(element, health, clock) for element in dom.document.querySelectorAll(selector)
    ]
