"""API keys, roles and the ``require_role`` dependency."""
