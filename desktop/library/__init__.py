"""Qt-free library of results: SQLite history, atomic file writes, metadata, export naming."""
