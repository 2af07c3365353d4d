"""FastAPI routes, one module per etcd service."""
