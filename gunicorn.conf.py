"""gunicorn's settings for this app, read from the checkout (`make run`, the fuzz and soak runs,
and `gunicorn flexprice_site.wsgi` in production)."""

# gunicorn answers a request line over 4,094 bytes with an HTML 414 of its own, which no API
# client can read (SPEC §1: every error in the one error body). The app refuses URLs over 8 KiB
# itself, in that body (flexprice_site.middleware.MAX_URL_BYTES); headers keep gunicorn's limits.
limit_request_line = 0
