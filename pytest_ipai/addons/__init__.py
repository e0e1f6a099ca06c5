"""The addons model: manifests parsed without running addon code, discovery along addons_path,
the dependency graph, and Odoo's core addon lists. No pytest here."""
