"""The demo loop: realistic-looking events for every project that has a subscriber.

The server keeps one `DemoProject` per project; its events go through that project's stream
(`ReferenceProtocol.publish`), so every subscriber sees the same events, and a render job runs
its full started -> progress... -> completed course. `emit_many` gives tests the same mix.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from .connections import iso_now
from .levers import lever
from .protocol import ReferenceProtocol

_USERS = ("alice", "bob", "chen", "dana", "emeka", "farah")
_STATUSES = ("draft", "active", "in_review", "approved", "rendering")
_ASSETS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("image", "textures", ("png", "jpg", "webp")),
    ("model", "models", ("glb", "fbx", "obj")),
    ("document", "docs", ("pdf", "md", "docx")),
    ("video", "renders", ("mp4", "webm")),
    ("audio", "audio", ("wav", "ogg")),
)
_WORDS = ("hero", "castle", "forest", "robot", "street", "ocean", "ship", "tower", "lamp", "crate")
_JOBS = (("Rendering frame", 40), ("Baking lightmap", 12), ("Transcoding chunk", 20))
#: One event per subscribed project every 0.2-0.45 s, i.e. ~3/s.
DEMO_PERIOD = (0.2, 0.45)


class DemoProject:
    """Generates the next plausible event for one project."""

    def __init__(self, project_id: str, rng: random.Random | None = None) -> None:
        self.project_id = project_id
        self.rng = rng or random.Random()
        self.name = f"Project {project_id}"
        self.files: list[dict[str, Any]] = []
        self._process_seq = 0
        self._process: dict[str, Any] | None = None

    def _base(self, type_: str) -> dict[str, Any]:
        return {"type": type_, "timestamp": iso_now(), "project_id": self.project_id}

    def _project(self, type_: str) -> dict[str, Any]:
        msg = self._base(type_)
        msg["data"] = {
            "id": self.project_id,
            "name": self.name,
            "status": self.rng.choice(_STATUSES),
            "updated_by": self.rng.choice(_USERS),
            "updated_at": msg["timestamp"],
        }
        return msg

    def _file_uploaded(self) -> dict[str, Any]:
        asset_type, folder, exts = self.rng.choice(_ASSETS)
        name = f"{self.rng.choice(_WORDS)}_{self.rng.randrange(1000):03d}.{self.rng.choice(exts)}"
        file = {
            "name": name,
            "path": f"/projects/{self.project_id}/{folder}/{name}",
            "size": self.rng.randrange(2_000, 50_000_000),
            "asset_type": asset_type,
        }
        self.files.append(file)
        msg = self._base("file.uploaded")
        msg["file"] = file
        return msg

    def _file_deleted(self) -> dict[str, Any]:
        file = self.files.pop(self.rng.randrange(len(self.files)))
        msg = self._base("file.deleted")
        msg["file"] = file
        return msg

    def _process_msg(self, type_: str, proc: dict[str, Any]) -> dict[str, Any]:
        msg = self._base(type_)
        msg["process_id"] = proc["id"]
        msg["progress"] = round(proc["done"] / proc["total"], 4)
        msg["message"] = f"{proc['label']} {proc['done']}/{proc['total']}"
        return msg

    def _advance_process(self, proc: dict[str, Any]) -> dict[str, Any]:
        proc["done"] = min(proc["total"], proc["done"] + self.rng.randint(1, max(1, proc["step"])))
        if proc["done"] >= proc["total"]:
            self._process = None
            msg = self._process_msg("process.completed", proc)
            msg["message"] = f"{proc['label'].split()[0]} complete"
            return msg
        return self._process_msg("process.progress", proc)

    def next_event(self) -> dict[str, Any]:
        proc = self._process
        # While a job runs most events are its progress, so a job finishes in a few seconds.
        if proc is not None and self.rng.random() < 0.65:
            return self._advance_process(proc)
        roll = self.rng.random()
        if roll < 0.30:
            return self._project("project.updated")
        if roll < 0.55:
            return self._file_uploaded()
        if roll < 0.65 and self.files:
            return self._file_deleted()
        if roll < 0.90 and proc is None:
            self._process_seq += 1
            label, total = self.rng.choice(_JOBS)
            proc = {
                "id": f"proc-{self.project_id}-{self._process_seq}",
                "label": label,
                "total": total,
                "done": 0,
                "step": max(1, total // 8),
            }
            self._process = proc
            msg = self._process_msg("process.started", proc)
            msg["message"] = f"{label.split()[0]} started"
            return msg
        if roll < 0.95:
            return self._project("project.created")
        return self._project("project.updated")


class DemoLoop:
    """Server-wide: each project with a subscriber gets one event per tick, whoever listens."""

    def __init__(self, protocol: ReferenceProtocol, *, enabled: bool, seed: int | None) -> None:
        self._protocol = protocol
        self._initial = enabled
        self.enabled = enabled
        self._rng = random.Random(seed)
        self._projects: dict[str, DemoProject] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def reset(self) -> None:
        self.enabled = self._initial
        self._projects.clear()

    async def _run(self) -> None:
        low, high = DEMO_PERIOD
        while True:
            await asyncio.sleep(low + self._rng.random() * (high - low))
            if self.enabled:
                for project_id in self._protocol.subscribed_projects():
                    self._protocol.publish(self._project(project_id).next_event())

    def _project(self, project_id: str) -> DemoProject:
        project = self._projects.get(project_id)
        if project is None:
            project = DemoProject(project_id, random.Random(self._rng.random()))
            self._projects[project_id] = project
        return project

    @lever
    def set_demo(self, on: bool) -> None:
        """Demo events on or off (the projects' job and file lists are kept)."""
        self.enabled = on

    @lever
    def emit_many(self, project_id: str, n: int) -> list[dict[str, Any]]:
        """`n` events of the demo's mix (files, processes, project updates) for `project_id`."""
        generator = self._project(project_id)
        return [self._protocol.publish(generator.next_event()) for _ in range(n)]
