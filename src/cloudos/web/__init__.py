"""The ASGI app factory, REST API, HTML views and static files."""

from cloudos.web._app import AppState, CurrentPrincipal, app_state, create_app, require_principal

__all__ = ["AppState", "CurrentPrincipal", "app_state", "create_app", "require_principal"]
