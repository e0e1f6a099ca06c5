"""What a deploy keeps on the host and computes: the state file and maintenance flag, the
single-flight lock, and the module upgrade plan. The steps themselves are ``ops/deploy*.py``.
May import the packages below it (``core`` to ``evidence``); never ``backup``, ``decision``,
``plugin`` or pytest."""
