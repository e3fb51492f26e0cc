"""Benchmarks of vgg_gluon, run from the repository root as ``python -m benchmarks.NAME``."""
