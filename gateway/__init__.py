"""FastAPI gateway: REST API, web console, MQTT ingest into the case record, media store."""
