"""The HTTP layer: routers, request and response models, error responses."""
