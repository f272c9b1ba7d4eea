"""Realistic-looking events for one project (demo mode and `emit_many`).

The server keeps one `DemoProject` per project; its events go through that project's stream, so
every subscriber sees the same events, and a render job runs its full
started -> progress... -> completed course.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

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


def iso_now() -> str:
    """Current time as ISO-8601 UTC with milliseconds and a `Z` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
