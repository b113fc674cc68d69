"""Classifier worker: batched emotion inference on face crops from Redis."""
