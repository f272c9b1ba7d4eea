"""Static file serving for the demo page (the repo root, incl. node_modules and Pyodide files).

A small custom handler rather than `add_static` because we need: `/` -> index.html, directory
index files without listings, explicit content types that do not depend on the host's
mimetypes database (Python 3.11 lacks .mjs/.toml), and hidden paths (.git, .venv) kept private.
Files go out via FileResponse, i.e. sendfile(), so 15 MB Pyodide assets are cheap.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".cjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".toml": "application/toml",
    ".zip": "application/zip",
    ".whl": "application/zip",
    ".tar": "application/x-tar",
    ".gz": "application/gzip",
    ".py": "text/x-python; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".data": "application/octet-stream",
}


def content_type(path: Path) -> str:
    known = CONTENT_TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def make_static_handler(root: Path) -> Handler:
    root = root.resolve()

    async def handler(request: web.Request) -> web.StreamResponse:
        rel = request.match_info.get("path", "")
        parts = [p for p in rel.split("/") if p]
        # No dotfiles/dot-dirs and no parent references: .git and .venv stay private, and
        # traversal is rejected before touching the filesystem.
        if any(p.startswith(".") or "\\" in p or "\0" in p for p in parts):
            raise web.HTTPNotFound()
        try:
            target = root.joinpath(*parts).resolve(strict=True)
        except (OSError, RuntimeError):
            raise web.HTTPNotFound() from None
        # Like add_static(follow_symlinks=False): nothing that resolves outside the root.
        if not target.is_relative_to(root):
            raise web.HTTPNotFound()
        if target.is_dir():
            if rel and not rel.endswith("/"):
                # Relative URLs in the directory's index.html need the trailing slash.
                raise web.HTTPMovedPermanently(request.path + "/")
            target = target / "index.html"
            if not target.is_file():
                raise web.HTTPNotFound()  # never a listing
        if not target.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(
            target,
            headers={
                "Content-Type": content_type(target),
                # Revalidate every time (ETag/Last-Modified make that a cheap 304), so edits show
                # up on reload during development.
                "Cache-Control": "no-cache",
            },
        )

    return handler
