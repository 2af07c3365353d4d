"""Multi-version concurrency control: revisions, history and compaction, as etcd's mvcc."""
