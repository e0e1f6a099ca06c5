"""Plumbing every other package stands on: errors and exit codes, the process runner, file
reading with limits and atomic writes, paths, time, address matching, git state, redaction, the
result model and the recorder a check writes into. Imports nothing else of pytest_ipai and never
pytest; everything may import it."""
