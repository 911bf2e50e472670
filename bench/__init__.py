"""Benchmarks of a running cyberins stack; `make bench` runs `python -m bench.api_load`."""
