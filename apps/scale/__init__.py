"""Synthetic data at scale (issue 10): `manage.py generate_scale`. No models, no URLs."""
