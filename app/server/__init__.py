"""The etcdserver role: validate, propose, wait until applied, answer."""
