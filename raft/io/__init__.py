"""Raft I/O around the pure core: the asyncio driver, the write-ahead log, the peer
transport, and the driver's seams (`transport.Transport`, `clock.Clock`,
`state_machine.StateMachine` and `state_machine.RaftEvents`)."""
