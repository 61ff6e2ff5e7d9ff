"""A Litestar app with the erralert plugin."""

from litestar import Litestar, get

from erralert.integrations.litestar import ErrAlertPlugin


@get("/")
async def index() -> str:
    return "ok"


def litestar() -> Litestar:
    app = Litestar(route_handlers=[index], plugins=[ErrAlertPlugin()])
    return app
