"""Webhook endpoints, signed at-least-once delivery of outbox messages, and the delivery log."""
