"""Domain events written to the outbox in the transaction that caused them.

A core package: work orders, the SLA engine and later complaints and surveys all emit
events; ``webhooks`` delivers them. Nothing here knows about endpoints or HTTP.
"""
