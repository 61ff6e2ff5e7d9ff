"""Receipt texts. A receipt's template is the standard library's ``string.Template``: a key
the caller forgets is a ``KeyError`` raised inside ``string.py``, a library, so an alert
must show the app's own line below — as written, ``_``, ``*`` and ``**`` included."""

import string
from typing import Any

_receipt = string.Template("Charged $amount_cents cents for order $order_id ($currency)")


def receipt_text(total: float, **kwargs: Any) -> str:
    return _receipt.substitute(amount_cents=int(total * 100), **kwargs)
