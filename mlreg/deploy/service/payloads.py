"""Request bodies in, predictions out: the part of the server that knows no web framework.

Bodies: JSON (``{"dataframe_records": [...]}``, ``{"dataframe_split": {"columns": [...],
"data": [[...]]}}``, ``{"inputs": ...}`` / ``{"instances": ...}``) or Arrow IPC
(``application/vnd.apache.arrow.stream``, or ``.file``). Answers: JSON
``{"predictions": [{column: value}, ...]}`` or an Arrow IPC stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlreg.errors import InvalidInput

JSON = "application/json"
ARROW = "application/vnd.apache.arrow.stream"
ARROW_FILE = "application/vnd.apache.arrow.file"
FORM = "application/x-www-form-urlencoded"  # what `curl -d` sends unless told otherwise
JSON_KEYS = ("dataframe_records", "dataframe_split", "inputs", "instances")
_ARROW_MAGIC = b"\xff\xff\xff\xff"
#: requests of at most this many rows, given as rows, may be scored together
BATCH_MAX_ROWS = 256
#: model types whose predictions for a row do not depend on the other rows of the call
ROW_WISE_TYPES = {"sklearn", "xgboost", "lightgbm", "snowpark"}


class RequestError(Exception):
    """A request the server refuses, with its HTTP status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Parsed:
    """A request's rows: as records (small, row-shaped JSON) or as a frame."""

    records: list[dict[str, Any]] | None = None
    frame: Any = None

    @property
    def rows(self) -> int:
        return len(self.records) if self.records is not None else len(self.frame)


def choose_output(accept: str | None) -> str:
    """JSON or Arrow, from an ``Accept`` header (q-values honoured, JSON by default)."""
    if not accept:
        return JSON
    best: tuple[float, int, str] | None = None
    for order, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        kind = {JSON: JSON, ARROW: ARROW, "application/*": JSON, "*/*": JSON}.get(media.lower())
        if kind and q > 0 and (best is None or (q, -order) > (best[0], best[1])):
            best = (q, -order, kind)
    if best is None:
        raise RequestError(406, f"cannot answer in {accept!r}; this service answers {JSON} or {ARROW}")
    return best[2]


class ServedModel:
    """The model a server serves: request bodies in, predictions out, through the
    runtime's :class:`~mlreg.runtime.scorer.Scorer`."""

    def __init__(self, spec: dict[str, Any]):
        from mlreg.deploy.service.spec import load_scorer

        self.spec = spec
        self.scorer = load_scorer(spec)
        self.method = self.scorer.method
        self.signature = self.scorer.signature
        self.names = frozenset(self.scorer.input_names)
        self.with_inputs = bool(spec.get("output_with_input_features"))
        batch = spec.get("batch_requests")
        self.batching = spec.get("model_type") in ROW_WISE_TYPES if batch is None else bool(batch)

    # -- input ------------------------------------------------------------------------------
    def read(self, body: bytes, content_type: str | None) -> Parsed:
        media = (content_type or "").split(";")[0].strip().lower()
        if not media or media == FORM:  # no header, or curl's default for -d: sniff
            media = ARROW if body.startswith(_ARROW_MAGIC) else JSON
        if media == JSON or media.endswith("+json"):
            return self._from_json(body)
        if media in (ARROW, ARROW_FILE):
            return Parsed(frame=self._from_arrow(body, media == ARROW_FILE))
        raise RequestError(415, f"unsupported Content-Type {media!r}; send {JSON} or {ARROW}")

    def _from_arrow(self, body: bytes, file_format: bool) -> Any:
        import pyarrow as pa

        from mlreg.data import tables

        limit = self.spec.get("max_request_bytes")
        if limit:  # before decoding: a small compressed body may stand for gigabytes
            from mlreg.deploy.service.arrowsize import decoded_size

            size = decoded_size(body, file_format)
            if size is not None and size > int(limit):
                raise RequestError(413, f"the Arrow body decodes to {size} bytes, over this service's limit of "
                                        f"{int(limit)} bytes")
        try:
            reader = pa.ipc.open_file(body) if file_format else pa.ipc.open_stream(body)
            table = reader.read_all()
        except (pa.ArrowException, OSError, ValueError) as e:
            kind = "file" if file_format else "stream"
            raise RequestError(400, f"the body is not a valid Arrow IPC {kind}: {e}") from None
        return tables.arrow_to_pandas(table)

    def _from_json(self, body: bytes) -> Parsed:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise RequestError(400, f"the body is not valid JSON: {e}") from None
        except RecursionError:
            raise RequestError(400, "the body is JSON nested too deeply") from None
        keys = [k for k in JSON_KEYS if isinstance(doc, dict) and k in doc]
        if len(keys) != 1:
            raise RequestError(400, "a JSON body is an object with exactly one of the keys: " + ", ".join(JSON_KEYS))
        key, value = keys[0], doc[keys[0]]
        try:
            if key == "dataframe_records":
                if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
                    raise RequestError(400, "dataframe_records must be a list of objects, one per row")
                return Parsed(records=value)
            if key == "dataframe_split":
                return self._split(value)
            return self._inputs(key, value)
        except RequestError:
            raise
        except (InvalidInput, ValueError, TypeError) as e:
            raise RequestError(400, f"cannot read {key}: {e}") from None

    def _split(self, value: Any) -> Parsed:
        import pandas as pd

        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise RequestError(400, 'dataframe_split must be an object {"columns": [...], "data": [[...], ...]}')
        columns, data = value.get("columns"), value["data"]
        if columns is not None and not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
            raise RequestError(400, "dataframe_split.columns must be a list of column names")
        if not all(isinstance(r, list) for r in data):
            raise RequestError(400, "dataframe_split.data must be a list of rows (lists)")
        if (columns is not None and len(set(columns)) == len(columns) and len(data) <= BATCH_MAX_ROWS
                and all(len(r) == len(columns) for r in data)):
            return Parsed(records=[dict(zip(columns, r)) for r in data])
        return Parsed(frame=pd.DataFrame(data, columns=columns) if data else self._empty())

    def _inputs(self, key: str, value: Any) -> Parsed:
        from mlreg.data import tables

        if value is None or value == [] or value == {}:
            raise RequestError(400, f"{key} is empty")
        if isinstance(value, list) and all(isinstance(r, dict) for r in value):
            return Parsed(records=value)
        if isinstance(value, dict) and all(not isinstance(v, (list, dict)) for v in value.values()):
            return Parsed(records=[value])  # one row given as {column: scalar}
        return Parsed(frame=tables.frame_to_input(value, self.signature.inputs))

    def _empty(self) -> Any:
        import pandas as pd

        return pd.DataFrame({f.name: pd.Series([], dtype=object) for f in self.signature.inputs})

    def frame_of(self, parsed: Parsed) -> Any:
        import pandas as pd

        if parsed.records is None:
            return parsed.frame
        return pd.DataFrame.from_records(parsed.records) if parsed.records else self._empty()

    def batchable(self, parsed: Parsed) -> bool:
        """Whether this request may be scored in one call with others: row-shaped, small,
        and every row names every input feature (so rows cannot borrow each other's)."""
        return (self.batching and parsed.records is not None and 0 < len(parsed.records) <= BATCH_MAX_ROWS
                and all(self.names <= r.keys() for r in parsed.records))

    # -- scoring ----------------------------------------------------------------------------
    def score(self, parsed: Parsed) -> Any:
        return self.predict(self.frame_of(parsed))

    def predict(self, frame: Any) -> Any:
        import pandas as pd

        if len(frame) == 0:
            out = pd.DataFrame({f.name: pd.Series([], dtype=object) for f in self.signature.outputs})
        else:
            try:
                out = self.scorer.call(frame)
            except InvalidInput as e:
                raise RequestError(422, str(e)) from None
            except (ValueError, TypeError) as e:  # e.g. scikit-learn refusing NaN
                raise RequestError(422, f"the model rejected the input: {type(e).__name__}: {e}") from None
        if self.with_inputs:
            inputs = frame.drop(columns=[c for c in frame.columns if c in out.columns])
            out = pd.concat([inputs.reset_index(drop=True), out.reset_index(drop=True)], axis=1)
        return out

    # -- output -----------------------------------------------------------------------------
    @staticmethod
    def render(frame: Any, media: str) -> bytes:
        if media == ARROW:
            import pyarrow as pa

            table = pa.Table.from_pandas(frame, preserve_index=False)
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            return sink.getvalue().to_pybytes()
        records = frame.to_json(orient="records", date_format="iso", default_handler=str)
        return b'{"predictions":' + records.encode("utf-8") + b"}"

    def metadata(self) -> dict[str, Any]:
        from mlreg._version import __version__

        s = self.spec
        return {
            "deployment": s.get("deployment"),
            "model_name": s["model_name"],
            "model_version": s["model_version"],
            "model_id": s["model_id"],
            "model_type": s["model_type"],
            "target_method": self.method,
            "endpoint": "/" + s["endpoint"],
            "signature": s["signature"],
            "output_with_input_features": self.with_inputs,
            "batch_requests": self.batching,
            "mlreg_version": __version__,
        }
