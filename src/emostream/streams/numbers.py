"""Number types shared by the message classes: each a finite value within a documented range.

JSON allows neither NaN nor infinity, but Python's ``json`` writes and reads
them, and an over-long integer parses to a float infinity elsewhere; a time or
a weight that is not finite would poison every sum it enters. Finite is not
enough either: a face job whose offset is 1e300 overflows the chart, a
``seq`` of 1e30 loses its digits in every JSON reader. So every number has a
range that no real deployment reaches (docs/events.md, "Ranges"), refused at
decode time like any other malformed field.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

SAFE_INT = 2**53 - 1  # the largest integer every JSON reader (JavaScript included) holds exactly
TEN_YEARS_S = 10 * 366 * 86_400  # 316,224,000 s: a session, or a file's time line, never runs longer
DAY_S = 86_400
DAY_MS = DAY_S * 1000
PIXELS_SIDE_MAX = 2**20  # 1,048,576: a frame side; frames are also refused past ingest.max_frame_pixels
CROP_SIDE_MAX = 4096
IDS_PER_MESSAGE_MAX = 16_384  # a dropped message lists one batch (classifier.batch_max <= 16,384)

Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=SAFE_INT)]
# Seconds since the epoch that datetime can print (up to the year 5138).
EpochSeconds = Annotated[float, Field(ge=0, le=1e11, allow_inf_nan=False)]
Positive = Annotated[int, Field(ge=1, le=SAFE_INT)]

Seq = Count
TrackId = Annotated[int, Field(ge=0, le=2**32 - 1)]  # ingest numbers tracks from 1 within a session
Pts = Annotated[float, Field(ge=-TEN_YEARS_S, le=TEN_YEARS_S, allow_inf_nan=False)]
Offset = Annotated[float, Field(ge=0, le=TEN_YEARS_S, allow_inf_nan=False)]
Interval = Annotated[float, Field(ge=0, le=DAY_S, allow_inf_nan=False)]
Milliseconds = Annotated[float, Field(ge=0, le=DAY_MS, allow_inf_nan=False)]
# A wait between two wall-clock times (a face queued while every classifier was down): the span of EpochSeconds.
WaitMilliseconds = Annotated[float, Field(ge=0, le=1e14, allow_inf_nan=False)]
Side = Annotated[int, Field(ge=1, le=PIXELS_SIDE_MAX)]
Coordinate = Annotated[int, Field(ge=-SAFE_INT, le=SAFE_INT)]  # a box may reach past the frame; only exact in JSON is asked
CropSide = Annotated[int, Field(ge=1, le=CROP_SIDE_MAX)]
Channels = Annotated[int, Field(ge=1, le=4)]
