"""Work orders: customer requests with a life cycle, a timeline, logs and a checklist."""
