"""Authentication and role-based access control, as etcd's server/auth does it."""
