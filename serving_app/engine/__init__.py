"""Engine processes: their command lines, the built-in server, starting and stopping them.

Nothing in this package may import Django at module level: ``builtin_server`` runs as its own process.
"""
