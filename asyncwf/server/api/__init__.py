"""The backend's gRPC services and HTTP routes, and the authorization layer that guards them."""
