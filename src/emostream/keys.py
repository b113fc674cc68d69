"""Moved to :mod:`emostream.streams.keys`; this alias keeps old imports working while branches merge.

Import from ``emostream.streams.keys``; this module goes once nothing imports it.
"""

from emostream.streams.keys import AGGREGATOR_GROUP, CLASSIFIER_GROUP, SCHEMA_VERSION, Keys

__all__ = ["AGGREGATOR_GROUP", "CLASSIFIER_GROUP", "SCHEMA_VERSION", "Keys"]
