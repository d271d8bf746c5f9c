"""The HTTP API: FastAPI app, routers per resource, request/response schemas, errors."""
