"""A Python token provider for app.start(auth=...): it asks the page's server for a token."""

import js
from pyodide.ffi import to_js
from pyodide.http import pyfetch

from wsclient import app

js.window.__pyAuthCalls = js.Array.new()


async def provider(ctx: dict[str, object]) -> str:
    js.window.__pyAuthCalls.push(to_js(ctx, dict_converter=js.Object.fromEntries))
    response = await pyfetch("/auth/token", method="POST")
    return str((await response.json())["token"])


app.start(auth=provider)
