"""The Redis transport layer: key names, typed messages, the group reader and ingest's publisher."""
