"""Ingest: decode sources, pace, detect, track, crop, publish face jobs."""
