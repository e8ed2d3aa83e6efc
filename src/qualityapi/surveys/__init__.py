"""Satisfaction callbacks and surveys: versioned templates, the callback issued when a work
order is resolved (a clock of its own), call attempts, answers by phone or through a
single-use link, CSAT beside the response rate, and the ``survey.*`` events."""
