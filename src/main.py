"""Page entry point: PyScript runs this once the interpreter is up."""

from wsclient import app

client = app.start()
