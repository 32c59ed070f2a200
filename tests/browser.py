"""Browser tests: Playwright drives Debian's Chromium (never a downloaded build) against a live
server. The `page` fixture lives in tests/conftest.py; these are the pieces the tests share."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

from flexprice_site.demo import pricing_ops_group
from flexprice_site.models import Environment, User

CHROMIUM = Path("/usr/bin/chromium")
# Headless, with nothing that would reach out of this machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "pw-browser-123!"


def pricing_ops_user(environment: Environment, username: str = "olga") -> User:
    """A staff user of the environment's tenant in the pricing-ops group."""
    user = User.objects.create_user(
        username=username, password=PASSWORD, is_staff=True, tenant=environment.tenant
    )
    user.groups.add(pricing_ops_group())
    return user


def log_in(page: Page, base_url: str, user: User) -> None:
    """Sign in through the admin's login form."""
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
