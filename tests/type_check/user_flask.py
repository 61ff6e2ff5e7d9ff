"""A Flask app with the Flask integration."""

from flask import Flask

import erralert.integrations.flask


def flask() -> Flask:
    app = Flask(__name__)
    erralert.integrations.flask.init_app(app)
    return app
