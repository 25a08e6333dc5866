"""Developer tooling outside the product: the demo data of `make run` (seed_demo) and the synthetic
data sets of the benchmarks (generate_scale). Installed only in the dev and test profiles
(compliance_portal/settings.py); no module under apps/ imports it (tests/test_devtools_boundary.py)."""
