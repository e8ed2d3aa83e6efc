"""Fired after the commit of any clock change: the scanner wakes instead of waiting."""

from qualityapi.common.signals import Signal

CLOCK_CHANGED = Signal("clock_changed")
