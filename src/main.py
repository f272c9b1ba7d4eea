"""Page entry point: PyScript runs this once the interpreter is up."""

import os
import sys

# pyscript.toml copies build/wsclient.zip into the working directory without unpacking it: Python
# imports the package straight from the zip (its bytecode is inside), which saves start-up time.
sys.path.insert(0, os.path.abspath("wsclient.zip"))

from wsclient import app

client = app.start()
