"""pytest-ipai: deploy gates, evidence packs and decisions for self-hosted Odoo CE + OCA stacks."""

__version__ = "0.1.0"
