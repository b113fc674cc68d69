"""The Redis transport of emostream: key names, messages, consumer groups.

Every process talks to the others only through Redis, and this package is the
one place that knows how: ``keys`` names every key and stream and their caps,
``ids`` the rule for identifiers that become keys or file names, the message
modules (``facejob``, ``lifecycle``, ``events``, ``records``) the typed,
versioned wire format, ``deadletter`` what a refused entry keeps, ``groups``
the consumer-group reader the classifier, the aggregator and the subscriber
share, and ``discovery`` how readers find the per-source streams.

Nothing is re-exported here: import from the module that owns a name, so a
role loads only the parts it uses.
"""
