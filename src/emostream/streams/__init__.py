"""The Redis transport of emostream: connections, key names, messages, consumer groups.

Every process talks to the others only through Redis, and this package is the
one place that knows how: ``connection``, ``reconnect``, ``wait`` and
``embedded`` connect, retry and start a server, ``keys`` names every key and
stream and their caps (identifiers follow :mod:`emostream.config.ids`), ``wire`` the
envelope and the one validation path, the message modules (``facejob``,
``lifecycle``, ``events``, ``records``, with ``numbers`` for their bounded
number types) the typed, versioned wire format, ``schema`` the JSON Schema
generated from the event class, ``deadletter`` what a refused entry keeps,
``groups`` the consumer-group reader the classifier, the aggregator and the
subscriber share, ``discovery`` how readers find the per-source streams, and
``errors`` the start-up errors of the transport.

Nothing is re-exported here: import from the module that owns a name, so a
role loads only the parts it uses.
"""
