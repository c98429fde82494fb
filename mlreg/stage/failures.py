"""One line for each way a remote stage fails, whatever library raised it.

s3fs, gcsfs, adlfs and sshfs each wrap the errors of the library below them (botocore,
aiohttp, azure-core, asyncssh), so a failure is recognised by the names, codes and texts
along its chain of causes, never by a broad guess. Every message is a single line with
secrets replaced by ``***``; all are exit 1 (``MlregError``).

    no credentials        "no usable credentials for stage URL while ACTION: HINT"
    refused / forbidden   "access denied to stage URL while ACTION: DETAIL"
    host key              "the host key of HOST is not trusted for stage URL: ..."
    no bucket/container   "bucket 'NAME' of stage URL does not exist"
    unreachable           "cannot reach the storage service of stage URL while ACTION: DETAIL"
    storage full          "the storage of stage URL is full (quota or disk) while ACTION: DETAIL"
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Callable

from mlreg.errors import MlregError
from mlreg.stage.backends import causes

NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
                  "DefaultCredentialsError", "PasswordRequiredException", "KeyImportError"}
REFUSED = {"ClientAuthenticationError", "RefreshError", "PermissionDenied", "SFTPPermissionDenied",
           "AuthenticationException", "BadAuthenticationType"}
REFUSED_CODES = {"AccessDenied", "AuthenticationFailed", "AuthorizationFailure", "AuthorizationPermissionMismatch",
                 "AuthorizationResourceTypeMismatch", "InsufficientAccountPermissions", "InvalidAccessKeyId",
                 "SignatureDoesNotMatch", 401, 403}
MISSING_CONTAINER_CODES = {"NoSuchBucket", "ContainerNotFound"}
UNREACHABLE = {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
               "ClientConnectorError", "ServerDisconnectedError", "ClientPayloadError", "ClientOSError",
               "ServiceRequestError", "ServiceResponseError", "IncompleteRead", "ResponseStreamingError", "gaierror",
               "timeout", "TimeoutError", "FSTimeoutError", "NoValidConnectionsError", "ConnectionLost",
               "SFTPNoConnection", "SFTPConnectionLost",
               "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "BrokenPipeError"}
FULL_CODES = {"QuotaExceeded", "InsufficientStorage", "AccountIsDisabled", 507}
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


@dataclass
class Where:
    url: str  # the stage URL as shown (no password)
    host: str  # host[:port], for host-key messages
    container: str | None  # the bucket or container name, if the scheme has one
    container_kind: str | None  # "bucket" or "container"
    credentials: str  # where credentials come from
    redact: Callable[[str], str]
    container_exists: Callable[[], bool | None]  # None: could not tell


def _code(exc: BaseException) -> object:
    code = getattr(exc, "error_code", None)  # azure-core
    if code is None:
        response = getattr(exc, "response", None)  # botocore
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
    if code is None and type(exc).__name__ == "HttpError":  # gcsfs
        code = getattr(exc, "code", None)
    return code


def first_line(text: str, limit: int = 300) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def translate(exc: BaseException, action: str, where: Where) -> MlregError:
    chain = list(causes(exc))
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}
    codes = {_code(e) for e in chain} - {None}
    detail = first_line(where.redact(str(exc))) or type(exc).__name__
    texts = " ".join(where.redact(str(e)) for e in chain).lower()
    stage = f"stage {where.url}"

    if "HostKeyNotVerifiable" in names:
        return MlregError(
            f"the host key of {where.host} is not trusted for {stage}: it is not in known_hosts or does not match "
            "it (set known_hosts in stage_options, or add the server's key to ~/.ssh/known_hosts)"
        )
    if names & NO_CREDENTIALS:
        return MlregError(f"no usable credentials for {stage} while {action}: {where.credentials}")
    if (names & REFUSED or codes & REFUSED_CODES or any(isinstance(e, PermissionError) for e in chain)
            or "accessdenied" in texts or detail.startswith("Forbidden")):
        return MlregError(f"access denied to {stage} while {action}: {detail}")
    if names & UNREACHABLE or any(isinstance(e, (ConnectionError, TimeoutError)) for e in chain):
        error = MlregError(f"cannot reach the storage service of {stage} while {action}: {detail}")
        error.unreachable = True  # type: ignore[attr-defined]  # abort then leaves the server alone
        return error
    if where.container and (codes & MISSING_CONTAINER_CODES or names & {"FileNotFoundError", "ResourceNotFoundError"}):
        if codes & MISSING_CONTAINER_CODES or where.container_exists() is False:
            return MlregError(f"{where.container_kind} {where.container!r} of {stage} does not exist")
    if (codes & FULL_CODES or any(getattr(e, "errno", None) in FULL_ERRNOS for e in chain)
            or "quota" in texts or "no space left" in texts):
        return MlregError(f"the storage of {stage} is full (quota or disk) while {action}: {detail}")
    return MlregError(f"{action} failed on {stage}: {type(exc).__name__}: {detail}")

