"""Connection plumbing: Redis URLs, the pool, Cluster pub/sub, Sentinel, the embedded server."""
