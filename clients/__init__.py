"""Programs that drive chibo from outside, through its public commands: the simulator
and the roster importer. They are clients of the services, not part of them."""
