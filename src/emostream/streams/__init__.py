"""The Redis transport of emostream: connections, key names, messages, consumer groups.

Every process talks to the others only through Redis, and this package is the
one place that knows how: ``connection``, ``reconnect``, ``wait`` and
``embedded`` connect, retry and start a server; ``keys`` names every key and
stream; ``wire`` is the envelope and the one validation path; ``facejob``,
``lifecycle``, ``events`` and ``records`` (with ``numbers``) the typed,
versioned messages, ``schema`` the JSON Schema made from the event class;
``groups`` and ``group_commands`` the consumer groups, ``deadletter`` what a
refused entry keeps, ``discovery`` how readers find per-source streams.
Identifiers follow :mod:`emostream.config.ids`.

Nothing is re-exported here: import from the module that owns a name.
"""
