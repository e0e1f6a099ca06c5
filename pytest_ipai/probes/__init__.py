"""Talking to a running stack: the database, the container engine, listening sockets, Odoo's
logs and testinfra hosts. Each call has a timeout and fails closed with a named error. May import
``core`` and ``config``; never ``rules``, ``addons``, ``plugin``, ``deploy``, ``ops`` or pytest."""
