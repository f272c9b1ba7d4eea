"""wsclient: a resilient real-time WebSocket client for the browser, written in Python."""

__version__ = "0.1.0"
