"""Number types shared by the message classes: finite floats and non-negative counts.

JSON allows neither NaN nor infinity, but Python's ``json`` writes and reads
them, and an over-long integer parses to a float infinity elsewhere; a time or
a weight that is not finite would poison every sum it enters, so it is refused
at decode time.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]
# Seconds since the epoch that datetime can print (up to the year 5138).
EpochSeconds = Annotated[float, Field(ge=0, le=1e11, allow_inf_nan=False)]
Positive = Annotated[int, Field(ge=1)]
