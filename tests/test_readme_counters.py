"""The README's "Counters": its Starlette/FastAPI route and its Flask route, run exactly as
written in an app, serve exactly the scrape the README shows for its scenario — one Slack
channel, one alert answered with a 429 first; and they are, verbatim, in the user code
that `mypy --strict tests/type_check` checks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import erralert
from tests.virtual_clock import VirtualClock, virtual_loops

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SLACK = "slack://T0AB1CD2E/B0FG3HI4J/abcDEF123ghi"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("### Counters\n", 1)[1].split("\n### ", 1)[0]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(), re.S)


def starlette_app() -> Any:
    from starlette.applications import Starlette

    return Starlette()


def fastapi_app() -> Any:
    from fastapi import FastAPI

    return FastAPI()


def flask_app() -> Any:
    from flask import Flask

    return Flask("shop")


def asgi_get(app: Any, path: str) -> tuple[int, str, str]:
    from starlette.testclient import TestClient

    response = TestClient(app).get(path)
    return response.status_code, response.headers["content-type"], response.text


def wsgi_get(app: Any, path: str) -> tuple[int, str, str]:
    response = app.test_client().get(path)
    return response.status_code, response.headers["content-type"], response.get_data(as_text=True)


# app -> (its framework's app, the README block that adds the route, how to request it)
APPS: dict[str, tuple[Callable[[], Any], int, Callable[[Any, str], tuple[int, str, str]]]] = {
    "Starlette": (starlette_app, 0, asgi_get),
    "FastAPI": (fastapi_app, 0, asgi_get),
    "Flask": (flask_app, 1, wsgi_get),
}


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    with virtual_loops() as made:
        yield made


def test_the_section_has_the_two_routes_and_a_scrape() -> None:
    assert len(blocks("python")) == 2
    assert len(blocks("text")) == 1


@pytest.mark.parametrize(("block", "user_code"), [(0, "asgi"), (1, "flask")])
def test_each_route_is_type_checked_as_written(block: int, user_code: str) -> None:
    path = ROOT / "tests" / "type_check" / f"user_counters_{user_code}.py"
    assert blocks("python")[block] in path.read_text(encoding="utf-8")


@pytest.mark.slow  # an app, an alerter and its outbox run in virtual time, three times
@pytest.mark.parametrize("framework", list(APPS))
def test_the_route_serves_the_scrape_the_readme_shows(framework: str, clock: VirtualClock) -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "1"}, text="rate_limited")]

    def slack(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if answers else httpx.Response(200, text="ok")

    erralert.init(webhooks=[SLACK], transport=httpx.MockTransport(slack))
    make, block, get = APPS[framework]
    namespace: dict[str, Any] = {"app": make()}
    exec(compile(blocks("python")[block], "README.md", "exec"), namespace)

    try:
        raise ValueError("card declined")
    except ValueError:
        erralert.capture_exception()
    clock.skip()
    assert erralert.flush(30)

    status, content_type, text = get(namespace["app"], "/metrics/erralert")
    assert status == 200
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert text == blocks("text")[0]
