"""The public reading API: subscribe to the event streams, or follow them as text.

What an application outside the pipeline imports to read its results. Built
on :mod:`emostream.streams`; no role imports it.
"""
