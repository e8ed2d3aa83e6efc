"""SLA engine: business calendars, policy matching, clocks and the scanner."""
