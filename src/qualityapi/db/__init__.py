"""Database plumbing: declarative base, engine, sessions, the model registry."""
