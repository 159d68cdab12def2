"""The web interface: server-rendered pages with progressive enhancement.

Jinja2 renders every page on the server; HTMX (vendored in ``static/``, no build
step) makes forms and live parts update in place where JavaScript runs, and every
page and form also works without it. ``create_app`` includes :data:`router`.
"""

from cloudos.ui import _app_pages
from cloudos.ui._admin_pages import router as admin_router
from cloudos.ui._pages import router, warm_up

router.include_router(admin_router)
router.include_router(_app_pages.router)

__all__ = ["router", "warm_up"]
