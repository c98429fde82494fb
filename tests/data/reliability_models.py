"""Models for the reliability and security tests. They live in an importable module so
that pickles refer to them by reference and any process (a real `mlreg`) can load them."""

from __future__ import annotations

import os


class BigModel:
    """A custom model that carries a large weight blob (for crash tests: serializing and
    publishing it takes long enough to be interrupted at several points)."""

    def __init__(self, nbytes: int = 24 << 20):
        self.weights = os.urandom(nbytes)

    def predict(self, X):
        import numpy as np

        return np.asarray(X, dtype=float).sum(axis=1) + self.weights[0]


TRIPWIRE_ENV = "MLREG_TEST_TRIPWIRE"


def _tripwire():
    """Called by pickle when a Tripwire is unpickled: leaves a mark where the test can see it."""
    path = os.environ.get(TRIPWIRE_ENV)
    if path:
        with open(path, "a") as f:
            f.write("unpickled\n")
    return Tripwire()


class Tripwire:
    """A model whose unpickling is observable: proves what does (and does not) unpickle."""

    def __reduce__(self):
        return (_tripwire, ())

    def predict(self, X):
        import numpy as np

        return np.asarray(X, dtype=float).sum(axis=1)
