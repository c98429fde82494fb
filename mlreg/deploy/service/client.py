"""Score data through a running service over HTTP (Arrow IPC both ways).

``predict`` takes what a warehouse deployment takes (pandas DataFrame, pyarrow Table,
DuckDB relation, path to a Parquet/CSV/JSON file, list of records, numpy array) and
returns the same kind of frame: a DataFrame for pandas, records and arrays, a pyarrow
Table for a Table, a DuckDB relation for a relation or a path.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlreg.deploy.service.payloads import ARROW
from mlreg.errors import InvalidInput, MlregError

#: bytes of input per request: far below the server's default limit of 100 MiB
CHUNK_BYTES = 32 * 1024 * 1024
TIMEOUT = 600.0


class ServiceRequestError(MlregError):
    """The service refused or failed a request."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _to_arrow(data: Any, signature: dict[str, Any] | None = None) -> tuple[Any, str]:
    """``(pyarrow Table, kind of result to return)``. Arrays and records are laid out
    for the signature's input features (a 2-D array's columns in their order)."""
    import pyarrow as pa

    from mlreg.data import readers, tables

    if isinstance(data, (str, Path)):
        return readers.read_table(data), "relation"
    if tables.is_arrow(data):
        return (data if isinstance(data, pa.Table) else pa.Table.from_batches([data])), "arrow"
    if tables.is_relation(data):
        return data.to_arrow_table(), "relation"
    if signature and not tables.is_frame(data):
        from mlreg.data.signature import ModelSignature

        frame = tables.frame_to_input(data, ModelSignature.from_dict(signature).inputs)
    else:
        frame = tables.to_frame(data, "input_feature")
    return pa.Table.from_pandas(frame, preserve_index=False), "pandas"


def _from_arrow(table: Any, kind: str) -> Any:
    if kind == "arrow":
        return table
    if kind == "relation":
        from mlreg.data import tables

        return tables.arrow_to_relation(table)
    from mlreg.data import tables

    return tables.arrow_to_pandas(table)


def _request(conn: http.client.HTTPConnection, url: str, path: str, body: bytes, token: str | None) -> bytes:
    headers = {"Content-Type": ARROW, "Accept": ARROW}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
    except ConnectionRefusedError:
        raise ServiceRequestError(503, f"the service at {url} is not running (connection refused)") from None
    except (OSError, http.client.HTTPException) as e:
        raise ServiceRequestError(503, f"the service at {url} did not answer: {e}") from None
    if resp.status != 200:
        try:
            message = json.loads(payload)["error"]
        except (ValueError, KeyError, TypeError):
            message = payload[:200].decode("utf-8", "replace")
        if resp.status in (400, 413, 415, 422):
            raise InvalidInput(f"the service refused the input ({resp.status}): {message}")
        raise ServiceRequestError(resp.status, f"the service answered {resp.status}: {message}")
    return payload


def predict(url: str, data: Any, token: str | None = None, signature: dict[str, Any] | None = None,
            chunk_bytes: int = CHUNK_BYTES) -> Any:
    """Send ``data`` to the service's predict ``url``, in requests of about
    ``chunk_bytes`` on one keep-alive connection; the result has one row per input row
    (a DataFrame keeps the input's index)."""
    import pyarrow as pa

    table, kind = _to_arrow(data, signature)
    rows = max(1, int(chunk_bytes // max(1.0, table.nbytes / max(table.num_rows, 1))))
    parts_of_url = urlsplit(url)
    conn = http.client.HTTPConnection(parts_of_url.hostname or "", parts_of_url.port, timeout=TIMEOUT)
    parts = []
    try:
        for start in range(0, max(table.num_rows, 1), rows):
            chunk = table.slice(start, rows)
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, chunk.schema) as writer:
                writer.write_table(chunk)
            payload = _request(conn, url, parts_of_url.path or "/", sink.getvalue().to_pybytes(), token)
            try:
                parts.append(pa.ipc.open_stream(payload).read_all())
            except pa.ArrowException as e:
                raise ServiceRequestError(502, f"the service at {url} sent an invalid Arrow answer: {e}") from None
    finally:
        conn.close()
    result = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    out = _from_arrow(result, kind)
    from mlreg.data import tables

    if (tables.is_frame(data) or tables.is_series(data)) and len(data.index) == len(out):
        out.index = data.index
    return out
