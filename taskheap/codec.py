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
    if len(text) * 4 > limit:  # UTF-8 takes at most 4 bytes a character: count only when it matters
        size = len(text.encode())
        if size > limit:
            raise PayloadError(f"payload of task {task!r} is {size} bytes, over the {limit}-byte limit")
    return text


def decode_payload(text: str | bytes) -> tuple[list[Any], dict[str, Any]]:
    """Decode a stored payload; PayloadError says what is wrong with a malformed one."""
    try:
        data = _decode(text if isinstance(text, str) else text.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"malformed payload: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise PayloadError("malformed payload: expected an object with 'args' and 'kwargs'")
    args, kwargs = data.get("args", []), data.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise PayloadError("malformed payload: 'args' must be a list and 'kwargs' an object")
    return args, kwargs


def encode_result(value: Any) -> str:
    """Encode a return value; TypeError when it is not JSON."""
    try:
        return _encode(value)
    except _NOT_JSON as exc:
        raise TypeError(f"task result is not JSON-serializable: {exc}") from None


def decode_result(text: str | None) -> Any:
    return None if text is None else _decode(text)
