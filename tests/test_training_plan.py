"""Mini-batches and update counts of a training plan."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bpdebug.core.optimizers import Hyperparameters
from bpdebug.core.training import Plan, order, select


@given(n=st.integers(1, 40), size=st.integers(1, 50), shuffle=st.booleans(), seed=st.integers(0, 2**32 - 1),
       epoch=st.integers(1, 10_000))
def test_each_epoch_uses_every_example_once_in_batches_of_the_size(n, size, shuffle, seed, epoch):
    plan = Plan(Hyperparameters(0.1), batch_size=size, shuffle=shuffle, seed=seed)
    batches = plan.batches(n, epoch)
    assert sorted(r for b in batches for r in b) == list(range(n))
    assert len(batches) == plan.updates_per_epoch(n) == -(-n // min(size, n))
    assert all(len(b) == min(size, n) for b in batches[:-1]) and 1 <= len(batches[-1]) <= min(size, n)
    if not shuffle:
        assert [r for b in batches for r in b] == list(range(n))
    # the order of an epoch depends on the seed and the epoch only: drawn again, it is the same
    assert order(n, shuffle, seed, epoch) == tuple(r for b in batches for r in b)
    assert plan.first_update(n, epoch) == (epoch - 1) * len(batches) + 1


def test_shuffle_draws_a_new_order_each_epoch_and_the_default_is_one_batch():
    plan = Plan(Hyperparameters(0.1), batch_size=4, shuffle=True, seed=7)
    orders = {order(150, True, 7, e) for e in range(1, 6)}
    assert len(orders) == 5
    assert order(150, True, 8, 1) != order(150, True, 7, 1)
    assert plan.mode == "mini-batch"
    everything = Plan(Hyperparameters(0.1))
    assert everything.mode == "batch" and everything.batches(5, 3) == ((0, 1, 2, 3, 4),)
    assert Plan(Hyperparameters(0.1), batch_size=1).mode == "online"
    assert everything.is_plain and not Plan(Hyperparameters(0.1, weight_decay=0.1)).is_plain


@given(rows=st.lists(st.integers(0, 9), min_size=1, max_size=10, unique=True))
def test_select_gives_the_rows_in_order(rows):
    x = np.arange(30.0).reshape(10, 3)
    t = np.arange(10.0)[:, None]
    xs, ts = select(x, t, tuple(rows))
    assert np.array_equal(xs, x[rows]) and np.array_equal(ts, t[rows])
