"""Client input in error texts: :func:`shown`, the one place that renders it (a bottom module,
standard library only, so every layer can use it).

Error texts go to callers of the gateway, whose clients refuse trailers over a few KB (grpc's
default metadata limit): an echoed 100 KB string would turn a clear refusal into a transport
error. So input is shown quoted (``repr``) and cut to its first :data:`SHOWN_CHARACTERS`
characters, with its length.
"""
from __future__ import annotations

SHOWN_CHARACTERS = 64


def shown(value, limit: int = SHOWN_CHARACTERS) -> str:
    """``value`` for an error text: ``repr`` of a string, or of anything else; a string longer than
    ``limit`` characters as its first ``limit`` and its length, e.g. ``'AAAA...'... (300 characters)``."""
    if isinstance(value, str):
        return f"{value[:limit]!r}... ({len(value)} characters)" if len(value) > limit else repr(value)
    text = repr(value)
    if len(text) > limit:  # not a string (bytes, a list...): cut its repr
        return f"{text[:limit]}... ({len(text)} characters)"
    return text
