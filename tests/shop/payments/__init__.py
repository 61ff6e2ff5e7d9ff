"""The shop's payments package (owned by the payments team in the routing tests)."""


class PaymentError(Exception):
    """Base of the payment failures."""


class PaymentDeclined(PaymentError):
    """The provider declined the card."""
