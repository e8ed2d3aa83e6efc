"""Server-rendered pages for people (no API key, no CDN): templates and assets ship in
this package."""
