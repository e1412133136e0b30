"""Ray actors: thin shells (processes, I/O, concurrency) around the pure engine."""
