"""Building blocks of the ``report.json`` structs: the base struct and the annotated unit types.

Every document struct derives from :class:`Doc` (frozen, keyword-only); units live in the field
types (``Ms``, ``Seconds``) and their descriptions, which the JSON Schema carries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

__all__ = ["Count", "Doc", "Ms", "Seconds", "Sha256", "UtcTime"]

UtcTime = Annotated[
    datetime,
    msgspec.Meta(
        tz=True, description="UTC time, RFC 3339", extra_json_schema={"format": "date-time"}
    ),
]
Ms = Annotated[float | None, msgspec.Meta(description="milliseconds; null: see LatencyDoc")]
Seconds = Annotated[float, msgspec.Meta(description="seconds")]
Count = Annotated[int, msgspec.Meta(ge=0)]
Sha256 = Annotated[str | None, msgspec.Meta(description="lower-case hex SHA-256, null if unknown")]


class Doc(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every document struct."""
