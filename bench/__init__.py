"""Benchmarks of frontier-hub (not tests): `make bench`, `make bench-peer`, `make bench-live`."""
