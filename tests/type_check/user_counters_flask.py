"""The README's "Counters" route for Flask, verbatim after the app it is added to."""

# the README's block comes whole, its imports first, after the user's app
# ruff: noqa: E402

from flask import Flask

app = Flask(__name__)

import erralert


@app.get("/metrics/erralert")
def erralert_metrics() -> tuple[str, dict[str, str]]:
    text = erralert.prometheus_text(erralert.get_alerter().stats())
    return text, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
