"""Synthetic data at scale for the benchmarks: `manage.py generate_scale` (generator.generate)."""
