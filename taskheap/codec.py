"""JSON encoding of job payloads and results, with size limits. Never pickle."""

from __future__ import annotations

import json
import json.encoder
import threading
from collections.abc import Callable
from typing import Any

from .errors import PayloadError

DEFAULT_MAX_PAYLOAD = 1024 * 1024

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_decode = json.JSONDecoder().decode
# What JSON cannot hold: a non-JSON type, NaN or a cycle (TypeError, ValueError), or nesting
# deeper than the recursion limit (RecursionError).
_NOT_JSON = (TypeError, ValueError, RecursionError)
_PROBE, _PROBED = {"a": [1.5, "é", None]}, '{"a":[1.5,"é",null]}'


class _ThreadEncoder(threading.local):
    """`_encoder.encode`, minus its set-up: JSONEncoder.encode builds the stdlib's C encoder
    afresh on every call, two thirds of the cost of a small payload (an enqueue's largest
    part). Each thread builds one once, with cycle markers of its own (shared, they would see
    another thread's objects as cycles). `core` is None where the C encoder is missing or no
    longer takes these arguments: `_encoder.encode` then, as it is."""

    def __init__(self) -> None:
        self.markers: dict[int, Any] = {}
        self.core: Callable[[Any, int], Any] | None = None
        make = getattr(json.encoder, "c_make_encoder", None)  # the C core, undocumented
        if make is None:
            return
        try:
            core = make(
                self.markers,
                _encoder.default,
                json.encoder.encode_basestring,
                None,
                ":",
                ",",
                False,
                False,
                False,
            )
            if "".join(core(_PROBE, 0)) == _PROBED:
                self.core = core
        except TypeError:  # its arguments changed
            pass


_thread_encoder = _ThreadEncoder()


def _encode(value: Any) -> str:
    local = _thread_encoder
    if local.core is None:
        return _encoder.encode(value)
    try:
        return "".join(local.core(value, 0))
    except BaseException:
        local.markers.clear()  # an encode that failed midway leaves its markers behind
        raise


def encode_payload(task: str, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], limit: int) -> str:
    """Encode a call's arguments; TypeError names the task when they are not JSON."""
    try:
        text = _encode({"args": args, "kwargs": kwargs})
    except _NOT_JSON as exc:
        raise TypeError(f"arguments of task {task!r} must be JSON-serializable: {exc}") from None
    size = oversized(text, limit)
    if size is not None:
        raise PayloadError(f"payload of task {task!r} is {size} bytes, over the {limit}-byte limit")
    return text


def oversized(text: str, limit: int) -> int | None:
    """The size of `text` in UTF-8 bytes if it is over `limit` bytes, else None. UTF-8 takes at
    most 4 bytes a character, so bytes are counted only when it matters. Text read leniently
    (bytes that were not UTF-8 held as lone surrogates) counts as the bytes it was read from."""
    if len(text) * 4 <= limit:
        return None
    try:
        size = len(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:  # a lone surrogate not from a byte: 3 bytes, as surrogatepass has it
        size = len(text.encode("utf-8", "surrogatepass"))
    return size if size > limit else None


def decode_payload(text: str | bytes) -> tuple[list[Any], dict[str, Any]]:
    """Decode a stored payload; PayloadError says what is wrong with a malformed one: text that
    is not UTF-8 (a backend reads such bytes leniently, as lone surrogates, which could not be
    encoded again), not JSON, nested too deep for the decoder, or not an object of args and
    kwargs."""
    try:
        if not isinstance(text, str):
            text = text.decode()
        elif not text.isascii():
            text.encode()  # raises on a lone surrogate (the usual text is ASCII: no cost then)
    except UnicodeError as exc:
        raise PayloadError(f"undecodable payload: not UTF-8 ({exc})") from None
    data = _json(text, "malformed payload")
    if not isinstance(data, dict):
        raise PayloadError("malformed payload: expected an object with 'args' and 'kwargs'")
    args, kwargs = data.get("args", []), data.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise PayloadError("malformed payload: 'args' must be a list and 'kwargs' an object")
    return args, kwargs


def encode_result(value: Any) -> str:
    """Encode a return value; TypeError when it is not JSON. A string holding a lone surrogate
    (a file name read with surrogateescape, say) is escaped (\\udcff), as no store takes it raw."""
    try:
        text = _encode(value)
    except _NOT_JSON as exc:
        raise TypeError(f"task result is not JSON-serializable: {exc}") from None
    return text if storable(text) else json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def storable(text: str) -> bool:
    """Whether a store can hold the text: it encodes as UTF-8 (no lone surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """The text, its lone surrogates (if any) spelled as backslash escapes: for errors and
    tracebacks, which must reach the store whatever a task put in them."""
    return text if storable(text) else text.encode("utf-8", "backslashreplace").decode()


def decode_result(text: str | None) -> Any:
    """Decode a stored result; PayloadError (a ValueError) when it is not JSON or too deep."""
    return None if text is None else _json(text, "malformed result")


def _json(text: str, what: str) -> Any:
    try:
        return _decode(text)
    except ValueError as exc:
        raise PayloadError(f"{what}: not JSON ({exc})") from None
    except RecursionError:  # the C decoder stops at the recursion limit: the stack is unwound
        raise PayloadError(f"{what}: nested too deep") from None


HEADERS = "headers"  # the key of a job's headers in its meta (docs/architecture.md)


def encode_meta(headers: dict[str, Any]) -> str | None:
    """A job's meta holding its headers; None when it has none. TypeError when they are not JSON."""
    if not headers:
        return None
    try:
        return _encode({HEADERS: headers})
    except _NOT_JSON as exc:
        raise TypeError(f"job headers must be JSON-serializable: {exc}") from None


def headers_of(meta: str | None) -> dict[str, Any]:
    """The headers in a job's stored meta; PayloadError saying what is wrong with a malformed one."""
    if meta is None:
        return {}
    data = _json(meta, "malformed meta")
    if not isinstance(data, dict):
        raise PayloadError("malformed meta: expected a JSON object")
    headers = data.get(HEADERS, {})
    if not isinstance(headers, dict):
        raise PayloadError("malformed meta: 'headers' must be an object")
    return headers
