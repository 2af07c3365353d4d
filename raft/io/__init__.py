"""Raft I/O: the asyncio driver, the write-ahead log and the peer transport around the pure core."""
