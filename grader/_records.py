"""The channel from a child to the parent, and the step records it carries.

The child writes every result to a pipe that only the parent reads, never to
files: a submission that writes a fake result file into its folder changes
nothing. Frames are a 4-byte big-endian length and a payload. A message is
one JSON frame, followed by one frame of ``.npy`` bytes for each name in its
``"arrays"`` list. The parent reads every frame with safe loaders only
(JSON, ``numpy.load(allow_pickle=False)`` after a header check) and stops at
the first frame that does not parse.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Arrays larger than this are refused: no honest answer is this big.
MAX_ARRAY_BYTES = 512 * 1024 * 1024
_LENGTH = struct.Struct(">I")

#: What an array holds instead of real numbers, by numpy dtype kind.
_NOT_NUMBERS = {
    "b": "booleans",
    "U": "strings",
    "S": "byte strings",
    "O": "Python objects",
    "c": "complex numbers",
    "M": "dates",
    "m": "time spans",
    "V": "raw records",
}


class InvalidValue(ValueError):
    """A value a child returned that cannot be judged.

    The message is a sentence for the student; the check that meets this
    error fails with it.
    """


def _shorten(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# -- the child's side ---------------------------------------------------------

class ChannelWriter:
    """Sends messages to the parent over an inherited pipe."""

    def __init__(self, fd: int):
        self.fd = fd

    def _frame(self, payload: bytes) -> None:
        data = memoryview(_LENGTH.pack(len(payload)) + payload)
        while data:
            written = os.write(self.fd, data)
            data = data[written:]

    def send(self, header: dict[str, Any], arrays: dict[str, bytes] | None = None,
             default=None) -> None:
        arrays = arrays or {}
        header = {**header, "arrays": list(arrays)}
        self._frame(json.dumps(header, default=default).encode())
        for blob in arrays.values():
            self._frame(blob)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


# -- the parent's side --------------------------------------------------------

@dataclass
class StepRecord:
    """One step as the child reported it, read with safe loaders only."""

    id: str
    ok: bool
    values: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    #: Raw ``.npy`` bytes of each array the step returned, by name.
    blobs: dict[str, bytes] = field(default_factory=dict)

    def has_array(self, name: str) -> bool:
        """Whether the child sent this array, readable or not."""
        return name in self.blobs

    def array(self, name: str) -> np.ndarray:
        """Read back an array the child sent.

        Raises:
            InvalidValue: the array is missing, too large, pickled or not a
                valid ``.npy`` image.
        """
        try:
            if name not in self.blobs:
                raise InvalidValue(f"the step sent no array {name!r}")
            return read_npy(self.blobs[name])
        except InvalidValue as error:
            reason = str(error)
        except (OSError, ValueError, EOFError, MemoryError, OverflowError) as error:
            reason = f"it is not a valid .npy image ({_shorten(str(error))})"
        raise InvalidValue(
            f"The grader could not read back the array {name!r} sent by step "
            f"{self.id!r}: {reason}."
        )

    def failure_text(self) -> str:
        message = str(self.error.get("message", ""))
        kind = str(self.error.get("type", ""))
        if kind == "StepFailed":
            return message
        return f"{kind}: {message}" if message else kind


def read_npy(blob: bytes) -> np.ndarray:
    """Load ``.npy`` bytes after checking the header against their size."""
    size = len(blob)
    if size > MAX_ARRAY_BYTES:
        raise InvalidValue(f"it is larger than the limit of {MAX_ARRAY_BYTES} bytes")
    stream = io.BytesIO(blob)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise InvalidValue(f"it uses .npy format version {version}, which the "
                           "child never writes")
    if dtype.hasobject:
        raise InvalidValue("it holds pickled Python objects")
    # A header may promise more data than there is; check before numpy
    # allocates room for it.
    if math.prod(shape) * dtype.itemsize > size - stream.tell():
        raise InvalidValue("it is shorter than its header says")
    stream.seek(0)
    return np.load(stream, allow_pickle=False)


@dataclass
class ChannelData:
    """Everything the parent could read from one child's channel."""

    records: dict[str, StepRecord] = field(default_factory=dict)
    #: Environment adaptations the child made (see ``_child`` compat shims).
    compat: list[str] = field(default_factory=list)
    finished: bool = False
    #: Why reading stopped early, if it did.
    problem: str = ""


def _frames(data: bytes):
    offset = 0
    while offset + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + length > len(data):
            raise ValueError("a frame is cut short")
        yield data[offset:offset + length]
        offset += length
    if offset != len(data):
        raise ValueError("trailing bytes after the last frame")


def parse_channel(data: bytes) -> ChannelData:
    """Turn the bytes a child sent into records; never raises."""
    parsed = ChannelData()
    frames = _frames(data)
    try:
        for frame in frames:
            header = json.loads(frame)
            if not isinstance(header, dict):
                raise ValueError("a message is not a JSON object")
            names = header.get("arrays", [])
            if not isinstance(names, list) or not all(
                    isinstance(name, str) for name in names):
                raise ValueError("a message lists its arrays wrongly")
            blobs = {name: next(frames) for name in names}
            _take(parsed, header, blobs)
    except (ValueError, StopIteration, UnicodeDecodeError) as error:
        parsed.problem = f"the child's results could not all be read: {error}"
    return parsed


def _take(parsed: ChannelData, header: dict, blobs: dict[str, bytes]) -> None:
    if header.get("done") is True:
        parsed.finished = True
    elif "compat" in header:
        events = header["compat"]
        if isinstance(events, list):
            parsed.compat = [str(event) for event in events][:20]
    elif isinstance(header.get("id"), str):
        values, error = header.get("values"), header.get("error")
        parsed.records[header["id"]] = StepRecord(
            id=header["id"],
            ok=header.get("ok") is True,
            values=values if isinstance(values, dict) else {},
            error=error if isinstance(error, dict) else {},
            stdout=str(header.get("stdout", "")),
            blobs=blobs,
        )
