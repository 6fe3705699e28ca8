"""Built-in CLI commands, each module a plugin implementing ``register_commands``."""
