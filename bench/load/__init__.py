"""The load test: bench/load/driver.py runs bench/load/locustfile.py against the production stack."""
