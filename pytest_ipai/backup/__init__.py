"""Backups of an Odoo database and its filestore: create, verify by restoring, list, prune,
restore. PostgreSQL tools run as argv with the password in the environment, never on a
command line. May import the packages below it (``core`` to ``evidence``); never ``deploy``,
``decision``, ``plugin`` or pytest."""
