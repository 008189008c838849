"""A tuned float64 NumPy loop for the blog's 2-2-2 network (the baseline ``bpdebug run`` is timed against).

``python bench/tuned_loop.py EPOCHS`` prints the loss after the last update as ``bpdebug run`` does."""
import sys

import numpy as np

x, t, lr = np.array([[0.85, 0.25]]), np.array([[0.6905, 0.8657]]), 0.1
ws = [np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]), np.array([[0.5, 0.4, 0.3], [0.2, 0.5, 0.1]])]
W, B = [w[:, 1:] for w in ws], [w[:, 0] for w in ws]
WT = [m.T for m in W]


def forward() -> list[np.ndarray]:
    outs = [x]
    for l in range(2):
        z = outs[-1] @ WT[l]
        z += B[l]
        np.negative(z, out=z), np.exp(z, out=z), np.add(z, 1.0, out=z), np.divide(1.0, z, out=z)
        outs.append(z)
    return outs


for _ in range(int(sys.argv[1])):
    outs = forward()
    o = outs[-1]
    d = o - t
    loss = 0.5 * np.dot(d.ravel(), d.ravel())
    delta = d * o * (1.0 - o)
    for l in (1, 0):
        a = outs[l]
        gW, gB = delta.T @ a, delta.sum(axis=0)
        if l:
            delta = (delta @ W[l]) * a * (1.0 - a)
        gW *= lr
        W[l] -= gW
        gB *= lr
        B[l] -= gB
d = forward()[-1] - t
print(f"loss {0.5 * np.dot(d.ravel(), d.ravel()):.10g}")
