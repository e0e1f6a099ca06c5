"""The decision: ``decide(results, policy) -> promote | hold | rollback``, a pure function
(``decide``), and the policy it reads (``policy``). May import the packages below it (``core``
to ``evidence``); never ``backup``, ``deploy``, ``plugin`` or pytest."""
