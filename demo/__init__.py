"""The demo: a live dashboard app built on the ``wsclient`` package (not part of the wheel)."""
