"""The demo billing service (JSON over HTTP) used by the self-service payment journey."""

from demo.billing.app import create_app, register
from demo.billing.service import Billing, BillingError

__all__ = ["Billing", "BillingError", "create_app", "register"]
