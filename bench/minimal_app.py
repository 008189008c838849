"""The floor of the first-frame benchmark: the least a Textual app that imports NumPy does to show a frame.

``python bench/minimal_app.py``: bench_instant.py times it from launch to its first frame in tmux, beside
``bpdebug scenarios/blog.toml``. NumPy is part of bpdebug's stack, so its import is part of the floor.
"""

import numpy  # noqa: F401 - the stack's floor
from bench_app import MinimalApp

if __name__ == "__main__":
    MinimalApp().run()
