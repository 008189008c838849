"""Test configuration shared by every file."""

import os

from hypothesis import settings

# CI draws the same examples every run, so a landing never depends on the luck of the draw; locally each run
# explores new networks (HYPOTHESIS_PROFILE=ci reproduces what CI ran).
# No deadline: a test's speed depends on the machine's load, and speed is measured in bench/, never in a test.
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.register_profile("explore", print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "explore"))
