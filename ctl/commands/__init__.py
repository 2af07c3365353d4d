"""One module per etcdctl command family; each exposes click commands for `main`."""
