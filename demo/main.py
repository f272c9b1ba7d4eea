"""The demo page's entry point (``index.html``: ``from demo import main; main.start()``).

It starts the client as any embedding page does (``wsclient.app.start``), then, before the client
connects, renders the dashboard into ``#dashboard`` and subscribes the projects the page names:
``?project=a,b``, else the dashboard's ``data-projects``.
"""

from __future__ import annotations

from wsclient import app, dom
from wsclient.client import Client
from wsclient.config import projects_from_query, query_parameters

from .dashboard import Dashboard, default_projects


def start() -> Client:
    """Start the client with the dashboard mounted and its projects subscribed."""

    def setup(client: Client) -> None:
        root = dom.element_by_id("dashboard")
        if root is None:
            return
        Dashboard(client, root)
        named = projects_from_query(query_parameters(dom.page_url()))
        for project_id in default_projects(root) if named is None else named:
            client.subscribe(project_id)

    return app.start(setup=setup)
