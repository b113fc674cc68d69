"""Test support code (RTSP camera harness, ...)."""
