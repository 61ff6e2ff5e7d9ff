"""One module per framework, each imported on its own (``erralert.integrations.flask``,
``erralert.integrations.django`` …) so that erralert never imports a framework the app does
not use. A module whose framework is missing raises ``ImportError`` naming the extra to
install (``pip install 'erralert[flask]'``)."""
