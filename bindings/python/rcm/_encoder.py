"""redis-py's Encoder, for code written against redis-py that asks a client for it
(``client.get_encoder()``: redis-py's own Lock does, to encode its token)."""

from __future__ import annotations

from typing import Any

from .exceptions import DataError

__all__ = ["Encoder"]


class Encoder:
    """Values to bytes as rcm sends them; replies to str with decode_responses."""

    def __init__(self, encoding: str, encoding_errors: str, decode_responses: bool) -> None:
        self.encoding = encoding
        self.encoding_errors = encoding_errors
        self.decode_responses = decode_responses

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (bytes, memoryview)):
            return value  # type: ignore[return-value]
        if isinstance(value, bool):
            raise DataError("Invalid input of type: 'bool'. Convert to a bytes, string, int or float first.")
        if isinstance(value, (int, float)):
            return repr(value).encode()
        if not isinstance(value, str):
            raise DataError(f"Invalid input of type: '{type(value).__name__}'. Convert to a bytes, string, int or "
                            f"float first.")
        return value.encode(self.encoding, self.encoding_errors)

    def decode(self, value: Any, force: bool = False) -> Any:
        if self.decode_responses or force:
            if isinstance(value, memoryview):
                value = value.tobytes()
            if isinstance(value, bytes):
                value = value.decode(self.encoding, self.encoding_errors)
        return value
