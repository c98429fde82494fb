"""Fault injection for crash tests. A test hook, not a feature.

``checkpoint(name)`` kills the current process with SIGKILL when the environment
variable ``MLREG_FAULT`` equals ``name``, and stops it (SIGSTOP, until a SIGCONT) when
it equals ``name:stop``; otherwise it does nothing. The variable is read once, at
import, so a checkpoint costs one comparison. The crash tests
(tests/test_reliability_crash.py) run real ``mlreg`` processes with ``MLREG_FAULT``
set and check that the registry and stage are consistent afterwards.

Checkpoints:
    log:serialize   while the model file is being written (after its first MiB)
    log:publish     package complete in its temporary directory, before the rename
    log:upload      remote stage: a package file uploaded, the commit marker not yet written
    log:commit      package published, before the registry transaction
    log:committed   registry transaction committed, connection not yet closed
    delete:commit   before the registry transaction of a delete
    delete:stage    registry entry deleted, package not yet removed from the stage
    copy:version    `mlreg copy`: one version copied (committed in the target), the rest not yet
"""

from __future__ import annotations

import os
import signal

ARMED: str | None = os.environ.get("MLREG_FAULT") or None


def checkpoint(name: str) -> None:
    global ARMED
    if ARMED is None or not ARMED.startswith(name):
        return
    if ARMED == name:
        os.kill(os.getpid(), signal.SIGKILL)
    elif ARMED == name + ":stop":
        ARMED = None  # once: after SIGCONT the process runs on normally
        os.kill(os.getpid(), signal.SIGSTOP)
