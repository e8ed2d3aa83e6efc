"""Complaints: first-contact ownership, deadlines in working days, corrective actions and
high-frequency problems (ISO 10002 order: receipt, acknowledgement, investigation,
decision, callback, closing, analysis)."""
