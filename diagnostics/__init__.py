"""What benchmarks and tests use to look inside the service; off by default, outside the core path."""
