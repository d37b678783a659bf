"""Job kinds: the hook (base.py), their discovery (registry.py) and the built-in kinds."""
