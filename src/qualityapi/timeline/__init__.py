"""The timeline of any subject (work order, complaint, survey): who did what, when, old → new."""
