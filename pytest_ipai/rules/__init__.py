"""Static checks over files of the stack repository: compose files, odoo.conf, git hygiene
(conflicts, secrets), CI files (their steps, parsed as shell, judged for bypasses). They read
files and judge; they never talk to a running stack. May import ``core`` and ``config``; never
``probes``, ``addons``, ``plugin``, ``deploy``, ``ops`` or pytest."""
