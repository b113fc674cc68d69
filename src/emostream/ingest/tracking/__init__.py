"""The parts of the face tracker: box geometry, a Kalman motion model, an appearance descriptor, state codec.

The association itself (which detection continues which track) is
``emostream.ingest.tracking.tracker``; these modules are the pieces it combines.
"""
