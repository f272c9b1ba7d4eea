"""Page entry point: PyScript runs this once the interpreter is up (pyscript.toml ships the
package)."""

from wsclient import app

client = app.start()
