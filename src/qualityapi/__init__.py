"""qualityapi: service-quality management with an asynchronous SLA engine."""

__version__ = "0.1.0"
