"""Page entry point: PyScript runs this once the interpreter is up."""

import bundleimport

# pyscript.toml copies the package's bundle (bytecode built for this Pyodide, see
# src/bundleimport.py) and its importer into the working directory.
bundleimport.install("wsclient.bundle")

from wsclient import app  # noqa: E402 - importable once the bundle is installed

client = app.start()
