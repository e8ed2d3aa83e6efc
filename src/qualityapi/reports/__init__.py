"""Read-only views across domains: the live board (and, later, quality reports)."""
