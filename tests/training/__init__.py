"""Tests of emostream.training (a package, so its module names cannot clash with other test folders)."""
