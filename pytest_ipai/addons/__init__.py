"""The addons model: manifests parsed without running addon code, discovery along addons_path,
the dependency graph, Odoo's core addon lists, the users' addons manifest, must-have modules, the
lock file, repositories and module states against the tree. May import ``core`` and ``config``;
never ``plugin``, ``deploy``, ``ops`` or pytest."""
