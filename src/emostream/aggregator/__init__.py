"""Aggregator: counts events per session, writes summaries, serves metrics."""
