"""Sign-in, sign-out and the start page: the console's public area."""

from __future__ import annotations

from starlette.responses import Response

from fundament.console.core import Console, Needs, Pages, Session
from fundament.platform import Problem, services

pages = Pages("public")


def home_of(c: Console) -> str:
    s = c.session
    if s.is_operator:
        return "/operator"
    return f"/t/{s.tenant_id}/"


@pages.page("/", methods=("GET",))
async def start(c: Console) -> Response:
    """The sign-in form, or the signed-in key's home."""
    if c.session.signed_in:
        return c.redirect(home_of(c))
    return c.render("signin.html", title="Sign in", next=c.query.get("next", ""), error=None)


@pages.page("/sign-in", methods=("POST",))
async def sign_in(c: Console) -> Response:
    form = await c.form()
    key = form.get("key", "").strip()
    target = form.get("next", "")
    needs: Needs = services(c.request)
    client = c.request.client.host if c.request.client is not None else None
    try:
        principal = await needs.authenticator.authenticate(key, client=client)
    except Problem as exc:
        # The authenticator's own answer (unknown key 401, throttled 429), on the form.
        return c.render("signin.html", status=exc.status, title="Sign in", next=target, error=exc.detail)
    # A fresh session (and CSRF token) at sign-in, so a token seen before cannot be reused.
    c.session = Session.for_principal(key, principal)
    c.new_session = c.session
    # Only a path inside the console: an open redirect would send a signed-in user anywhere.
    if target.startswith(c.base + "/") and "//" not in target and "\\" not in target:
        return c.redirect(target.removeprefix(c.base))
    return c.redirect(home_of(c))


@pages.page("/sign-out", methods=("POST",))
async def sign_out(c: Console) -> Response:
    c.new_session = None
    return c.redirect("/", notice="signed-out")
