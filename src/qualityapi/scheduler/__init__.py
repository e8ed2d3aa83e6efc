"""APScheduler wiring: thin jobs that call the SLA (and later webhook) services."""
