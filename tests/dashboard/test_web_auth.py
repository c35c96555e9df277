"""The dashboard's guards through Starlette's TestClient: bearer and basic auth, the login form
and its session cookie, and the security headers on every kind of response."""

from __future__ import annotations

import base64
import re
import sqlite3

from click.testing import CliRunner
from starlette.testclient import TestClient

from taskheap.cli import cli
from taskheap.dashboard.security import CONTENT_SECURITY_POLICY, SESSION_COOKIE, Auth
from taskheap.dashboard.web import create_app
from tests.dashboard.conftest import Store

TOKEN = "s3cret-token"
HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def login_form(client: TestClient, target: str = "/") -> tuple[str, str]:
    """The login page's form action and CSRF token."""
    page = client.get(f"/login?next={target}").text
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert action and token
    return action.group(1).replace("&amp;", "&"), token.group(1)


def test_a_token_guards_every_route_but_the_login_form_and_the_static_files(store: Store) -> None:
    client = TestClient(create_app(store.app, auth=Auth(token=TOKEN)))
    for page in ("/", "/jobs", f"/jobs/{store.dead}", "/workers", "/metrics", "/live?count=1"):
        assert client.get(page).status_code == 401, page
    assert client.post(f"/jobs/{store.dead}/retry").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/login").status_code == 200 and client.get("/static/dashboard.js").status_code == 200


def test_an_api_client_gets_a_401_with_the_challenge_and_the_real_variable(store: Store) -> None:
    refused = TestClient(create_app(store.app, auth=Auth(token=TOKEN))).get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="taskheap"'
    assert "Authorization: Bearer" in refused.text and "$TASKHEAP_DASHBOARD_TOKEN" in refused.text
    both = TestClient(create_app(store.app, auth=Auth(token=TOKEN, basic="ops:pw"))).get("/metrics")
    assert both.headers["www-authenticate"] == 'Bearer realm="taskheap", Basic realm="taskheap"'
    assert "$TASKHEAP_DASHBOARD_BASIC_AUTH" in both.text


def test_the_cli_help_names_the_real_environment_variables() -> None:
    result = CliRunner().invoke(cli, ["dashboard", "--help"])
    assert "$TASKHEAP_DASHBOARD_TOKEN" in result.output and "$…" not in result.output
    assert "$TASKHEAP_DASHBOARD_BASIC_AUTH" in result.output


def test_a_browser_is_sent_to_the_login_form_and_back_to_its_page(store: Store) -> None:
    client = TestClient(create_app(store.app, auth=Auth(token=TOKEN)))
    sent = client.get("/jobs?queue=emails", headers=BROWSER, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == "/login?next=%2Fjobs%3Fqueue%3Demails"
    page = client.get(sent.headers["location"]).text
    assert 'type="password"' in page and "$TASKHEAP_DASHBOARD_TOKEN" in page
    action, csrf = login_form(client, "%2Fjobs%3Fqueue%3Demails")
    done = client.post(action, data={"csrf_token": csrf, "token": TOKEN}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/jobs?queue=emails"
    listed = client.get(done.headers["location"])
    assert listed.status_code == 200 and f'data-job="{store.dead}"' in listed.text


def test_the_session_cookie_is_httponly_strict_signed_and_not_the_token(store: Store) -> None:
    client = TestClient(create_app(store.app, auth=Auth(token=TOKEN)))
    action, csrf = login_form(client)
    done = client.post(action, data={"csrf_token": csrf, "token": TOKEN}, follow_redirects=False)
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "max-age=43200" in flags
    value = cookie.split(";")[0].partition("=")[2]
    assert TOKEN not in value and TOKEN not in base64.b64decode(value.split(".")[0] + "==").decode()
    assert client.get("/").status_code == 200, "the cookie logs the browser in"
    forged = TestClient(create_app(store.app, auth=Auth(token=TOKEN)))
    forged.cookies.set(SESSION_COOKIE, value[:-4] + "AAAA")
    assert forged.get("/").status_code == 401, "a tampered session is no session"
    rotated = TestClient(create_app(store.app, auth=Auth(token="a-new-token")))
    rotated.cookies.set(SESSION_COOKIE, value)
    assert rotated.get("/").status_code == 401, "a new token ends the old sessions"


def test_a_wrong_token_or_a_missing_csrf_token_logs_nobody_in(store: Store) -> None:
    client = TestClient(create_app(store.app, auth=Auth(token=TOKEN)))
    action, csrf = login_form(client)
    wrong = client.post(action, data={"csrf_token": csrf, "token": TOKEN + "x"})
    assert wrong.status_code == 401 and "wrong token" in wrong.text and wrong.headers["www-authenticate"]
    assert client.post(action, data={"token": TOKEN}).status_code == 403
    assert SESSION_COOKIE not in client.cookies and client.get("/").status_code == 401


def test_login_goes_on_only_to_a_page_of_the_dashboard(store: Store) -> None:
    client = TestClient(create_app(store.app, auth=Auth(token=TOKEN)))
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        _, csrf = login_form(client)
        done = client.post(
            "/login",
            params={"next": target},
            data={"csrf_token": csrf, "token": TOKEN},
            follow_redirects=False,
        )
        assert done.headers["location"] == "/", target


def test_logging_out_ends_the_session(store: Store) -> None:
    client = TestClient(create_app(store.app, auth=Auth(token=TOKEN)))
    action, csrf = login_form(client)
    client.post(action, data={"csrf_token": csrf, "token": TOKEN})
    page = client.get("/").text
    assert "Log out" in page
    logout = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert logout
    client.post("/logout", data={"csrf_token": logout.group(1)})
    assert client.get("/").status_code == 401


def test_login_under_a_mount_stays_under_the_mount(store: Store) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    client = TestClient(Starlette(routes=[Mount("/ops/q", create_app(store.app, auth=Auth(token=TOKEN)))]))
    sent = client.get("/ops/q/dead", headers=BROWSER, follow_redirects=False)
    assert sent.headers["location"] == "/ops/q/login?next=%2Fdead"
    page = client.get(sent.headers["location"]).text
    assert '/ops/q/login?next=%2Fdead" class="login"' in page and "/ops/q/static/dashboard.css" in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    done = client.post(
        "/ops/q/login?next=%2Fdead",
        data={"csrf_token": csrf.group(1), "token": TOKEN},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/ops/q/dead" and client.get("/ops/q/dead").status_code == 200


def test_basic_auth_challenges_and_admits_the_right_user(store: Store) -> None:
    client = TestClient(create_app(store.app, auth=Auth(basic="ops:pa:ss")))
    refused = client.get("/", headers=BROWSER)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == 'Basic realm="taskheap"'
    good = base64.b64encode(b"ops:pa:ss").decode()
    assert client.get("/", headers={"Authorization": f"Basic {good}"}).status_code == 200
    assert client.get("/", headers={"Authorization": "Basic !!notbase64"}).status_code == 401
    assert client.get("/login", follow_redirects=False).status_code == 303, "no token: no login form"


def assert_secure(response: object, what: str) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers.get("content-security-policy") == CONTENT_SECURITY_POLICY, what
    for name, value in HEADERS.items():
        assert headers.get(name) == value, (what, name)


def test_the_policy_allows_no_inline_script_and_no_framing() -> None:
    rules = dict(rule.split(" ", 1) for rule in CONTENT_SECURITY_POLICY.split("; "))
    assert rules["script-src"] == "'self'" and rules["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and rules["default-src"] == "'none'"


def test_every_response_carries_the_security_headers(store: Store) -> None:
    client = TestClient(create_app(store.app))
    for page in ("/", "/jobs", f"/jobs/{store.dead}", "/workers", "/metrics", "/static/dashboard.css"):
        assert_secure(client.get(page), page)
    assert_secure(client.get("/live?count=1"), "server-sent events")
    assert_secure(client.get("/jobs/NOPE"), "a 404 page")
    assert_secure(client.get("/nowhere"), "a 404 of the router")
    assert_secure(client.get("/jobs?since=garbage"), "a 400")
    assert_secure(client.post(f"/jobs/{store.dead}/retry"), "a refused CSRF")
    assert_secure(client.post("/bulk/purge", follow_redirects=False), "a 403")
    guarded = TestClient(create_app(store.app, auth=Auth(token=TOKEN)))
    assert_secure(guarded.get("/"), "a 401")
    assert_secure(guarded.get("/", headers=BROWSER, follow_redirects=False), "a redirect to the login")
    assert_secure(guarded.get("/login"), "the login form")


def test_a_store_that_fails_is_a_503_page_with_the_headers(store: Store) -> None:
    client = TestClient(create_app(store.app))
    conn = sqlite3.connect(store.app.backend.path)  # type: ignore[attr-defined]
    conn.execute("DROP TABLE jobs")
    conn.commit()
    conn.close()
    response = client.get("/jobs")
    assert (
        response.status_code == 503
        and "the store did not answer" in response.text
        and "no such table" in response.text
    )
    assert_secure(response, "a 503")


def test_an_internal_error_is_a_plain_500_with_the_headers(store: Store) -> None:
    client = TestClient(create_app(store.app), raise_server_exceptions=False)
    store.app.backend.counts = lambda: {}["a bug"]  # type: ignore[method-assign]  # every overview raises KeyError
    response = client.get("/")
    assert response.status_code == 500 and "Traceback" not in response.text and "a bug" not in response.text
    assert_secure(response, "a 500")


def test_templates_hold_no_inline_script_or_handler() -> None:
    from taskheap.dashboard.render import HERE

    for template in (HERE / "templates").glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert "style=" not in text and "<style" not in text, template.name
