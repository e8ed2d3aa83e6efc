"""Fired after the commit of any outbox message: the webhook dispatcher wakes at once."""

from qualityapi.common.signals import Signal

MESSAGE_WRITTEN = Signal("message_written")
