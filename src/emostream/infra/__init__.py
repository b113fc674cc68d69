"""Shared infrastructure every role uses and none owns.

The emotion classes, credential redaction, native-library log routing, CPU
feature checks, optional-import errors, the bounded HTTP server behind
``/metrics`` and ``/healthz``, metric definitions, model cards and the worker
base class. These modules may import only :mod:`emostream.config`; nothing
here knows Redis (that is :mod:`emostream.streams`) or any role.
"""
