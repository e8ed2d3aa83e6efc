from qualityapi.cli import app

app()
