"""The BLAS thread policy (core/threads.py): one thread, unless the user set a count."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bpdebug.core import threads

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"


def test_no_thread_count_set_chooses_one_thread() -> None:
    assert threads.choose({}).threads == threads.BLAS_THREADS == 1
    assert threads.choose({"PATH": "/bin", "OMP_NUM_THREADS": " "}).threads == 1  # blank: not a choice


@pytest.mark.parametrize("variable", threads.USER_VARIABLES)
def test_a_thread_count_the_user_set_is_left_alone(variable: str) -> None:
    policy = threads.choose({variable: "3"})
    assert policy.threads is None and variable in policy.reason


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in threads.USER_VARIABLES}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


PROBE = """
import sys
from bpdebug import cli
from bpdebug.core import threads
before = threads.blas_threads()
cli.main(["check", sys.argv[1]])
print(repr((before, threads.blas_threads())), file=sys.stderr)
"""


def _probe(**env: str) -> tuple[list[int], list[int]]:
    """BLAS threads before and after ``bpdebug check`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(BLOG)], capture_output=True, text=True, timeout=120,
                         env=_clean_env(**env), check=False)
    before, after = ast.literal_eval(out.stderr.strip().splitlines()[-1])
    return before, after


def test_the_cli_runs_blas_on_one_thread() -> None:
    before, after = _probe()
    assert before and after == [1] * len(before)


def test_the_cli_keeps_the_users_thread_count() -> None:
    assert _probe(OPENBLAS_NUM_THREADS="2") == ([2], [2])


def test_apply_and_restore_in_this_process() -> None:
    if any(os.environ.get(v, "").strip() for v in threads.USER_VARIABLES):
        pytest.skip("a thread count is set in this environment: the policy leaves it")
    threads.restore()  # a command run in-process by an earlier test (cli.main) may have applied it already
    original = threads.blas_threads()
    try:
        assert threads.apply().threads == 1
        assert threads.apply().threads == 1  # idempotent
        assert all(n == 1 for n in threads.blas_threads())
    finally:
        threads.restore()
    assert threads.blas_threads() == original


BEFORE_NUMPY = """
import os, subprocess, sys
from bpdebug.core import threads
assert "numpy" not in sys.modules
threads.apply()  # as the CLI does, before anything imports NumPy
left = [v for v in threads.USER_VARIABLES if v in os.environ]
LIST = "import os; print(sorted(k for k in os.environ if k.endswith('THREADS')))"
child = subprocess.run([sys.executable, "-c", LIST], capture_output=True, text=True, check=True).stdout.strip()
print(repr((threads.blas_threads(), left, child)))
"""


def test_applied_before_numpy_loads_its_blas_on_one_thread_and_leaves_no_variable_behind() -> None:
    out = subprocess.run([sys.executable, "-c", BEFORE_NUMPY], capture_output=True, text=True, timeout=120,
                         env=_clean_env(), check=False)
    assert out.returncode == 0, out.stderr
    blas, left, child = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert blas and blas == [1] * len(blas)
    assert left == [] and child == "[]"  # set only while NumPy loaded: neither this process nor a child sees them
