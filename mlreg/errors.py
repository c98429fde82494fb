"""One error family. Each error carries the exit code the CLI uses for it. (And the one
warning class of mlreg's own, ``EnvironmentWarning``.)

Where it helps Python users, an error also subclasses the built-in it refines,
so ``except KeyError`` still works around a missing tag.
"""

from __future__ import annotations


class MlregError(Exception):
    """Root of every error mlreg raises on purpose."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class InvalidInput(MlregError, ValueError):
    """Bad user input: a name, a value, a file, an option."""

    exit_code = 1


class UsageError(MlregError, ValueError):
    """A command was called the wrong way (the CLI maps it to exit 2)."""

    exit_code = 2


class NotFound(MlregError, KeyError):
    """A model, tag, metric, deployment or registry does not exist."""

    exit_code = 3


class AlreadyExists(MlregError):
    """A model version or deployment of that name is already there."""

    exit_code = 4


class RegistryBusy(MlregError, TimeoutError):
    """The registry lock was not acquired within MLREG_LOCK_TIMEOUT."""

    exit_code = 5


class IntegrityError(MlregError):
    """A package file or the registry itself is corrupt or was changed."""

    exit_code = 6


class MissingDependency(MlregError, ImportError):
    """An optional extra is needed for this operation."""

    exit_code = 1

    def __init__(self, what: str, extra: str):
        super().__init__(f"{what} needs an optional dependency: pip install 'mlreg[{extra}]'")


class GateFailed(MlregError):
    """A policy's rules did not all pass (`mlreg gate`, `mlreg promote`, a protected alias):
    not an error of mlreg or of the input, a verdict."""

    exit_code = 7


class PromotionConflict(MlregError):
    """An alias moved (or was not where ``--expect`` said) between the policy check and the
    promotion: the promotion lost a race and changed nothing (exit 4, as for a duplicate)."""

    exit_code = 4


class EnvironmentWarning(UserWarning):
    """The current environment differs from the one a model was logged in (a warning, not an error)."""
