"""The stack configuration (``ipai.toml``), the gate policy (``gates/*.toml`` plus overrides),
JSON Schema validation and the packaged data (checks, gates, schemas). May import ``core``."""
