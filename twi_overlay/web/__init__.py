"""The HTTP edge for people: the JSON API (api.py), pages and development routes (pages.py), who is
asking (auth.py), the one error shape (errors.py, middlewares.py) and the static pages (static/)."""
