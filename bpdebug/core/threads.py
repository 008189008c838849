"""How many threads BLAS may use for bpdebug's matrix products: one, unless the user chose a number.

bpdebug multiplies small matrices many times (a 784-128-10 network's pass is three products of at most
784 × 128 by the batch), from the UI thread or a worker. A BLAS thread pool pays a wake-up and a join per
product, and its threads spin while waiting: on a machine whose cores are busy with anything else, each
product waits for a core. Measured with ``python bench/bench_instant.py`` on a 2-core machine (OpenBLAS
0.3.31, its default of one thread per core), milliseconds per epoch of the fast path on 784-128-10:

=============  ==========  ==========
examples       2 threads   1 thread
=============  ==========  ==========
16             6.9         1.9
256            15.7        6.7
1024           51.4        14.8
=============  ==========  ==========

and the app's ``]`` (next epoch) on 784-128-10 with 16 examples took 120-186 ms with two threads, ~16 ms with
one. More threads never made bpdebug faster there, at any size it handles, so the policy is one thread.

A thread count the user set is theirs: when any of :data:`USER_VARIABLES` is in the environment, nothing is
changed (the library read it when it loaded). The limit holds for the whole process, the UI thread and the
workers alike. The command line applies it before NumPy is imported, by setting the libraries' own variables
for the moment NumPy loads its BLAS (free: threadpoolctl's scan of the loaded libraries cost ~3 ms of start-up);
once NumPy is loaded, it is set with threadpoolctl.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# the variables BLAS and OpenMP libraries read their thread count from (OpenBLAS, MKL, BLIS, Accelerate, OpenMP)
USER_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS", "GOTO_NUM_THREADS")
BLAS_THREADS = 1  # what the measurements above chose


@dataclass(frozen=True)
class Policy:
    """What :func:`apply` did: ``threads`` the BLAS limit set (None: left as it was) and why."""

    threads: int | None
    reason: str


def choose(environ: Mapping[str, str] | None = None) -> Policy:
    """The policy for an environment: the user's thread count when they set one, else :data:`BLAS_THREADS`."""
    environ = os.environ if environ is None else environ
    chosen = [name for name in USER_VARIABLES if environ.get(name, "").strip()]
    if chosen:
        return Policy(None, f"{chosen[0]}={environ[chosen[0]].strip()} set by the user")
    return Policy(BLAS_THREADS, "one BLAS thread: measured faster than a pool at every size bpdebug trains")


_limiter: Any = None  # threadpoolctl's limiter while the policy is applied (True: applied as NumPy loaded)


def apply(environ: Mapping[str, str] | None = None) -> Policy:
    """Apply :func:`choose`'s policy to the BLAS of this process. Before NumPy is imported, the library's own
    variables (:data:`USER_VARIABLES`) are set for the moment NumPy loads it, which reads them then, and
    removed again: nothing else in the process, and no child process, sees them. Once NumPy is loaded, the
    limit is set with threadpoolctl, which :func:`restore` undoes. Idempotent."""
    global _limiter
    policy = choose(environ)
    if policy.threads is None or _limiter is not None:
        return policy
    if "numpy" not in sys.modules and environ is None:
        set_now = [name for name in USER_VARIABLES if name not in os.environ]
        try:
            os.environ.update({name: str(policy.threads) for name in set_now})
            import numpy  # noqa: F401 - its BLAS reads the variables as it loads
        finally:
            for name in set_now:
                os.environ.pop(name, None)
        _limiter = True
        return policy
    import numpy  # noqa: F401 - loads the BLAS the limit is set on

    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - a dependency; without it the library's default stays
        return Policy(None, "threadpoolctl is not installed")
    _limiter = threadpool_limits(limits=policy.threads, user_api="blas")
    return policy


def restore() -> None:
    """Give BLAS back the thread counts it had before :func:`apply` (for benchmarks and tests)."""
    global _limiter
    if _limiter is not None and _limiter is not True:  # a limit set as NumPy loaded stays
        _limiter.restore_original_limits()
        _limiter = None


def blas_threads() -> list[int]:
    """The thread count of each BLAS library loaded in this process (what threadpoolctl reports); NumPy's
    is loaded first."""
    import numpy  # noqa: F401 - loads the BLAS asked about
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    return [int(info["num_threads"]) for info in threadpool_info() if info.get("user_api") == "blas"]
