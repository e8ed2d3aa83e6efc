"""Audit trail of configuration changes (keys, teams, staff, policies, calendars, endpoints)."""
