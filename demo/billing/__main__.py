"""`python -m demo.billing [PORT]`: the demo billing service on its own (BILLING_TOKEN: the
bearer token its callers send)."""

import os
import sys

from demo.billing.app import create_app

if __name__ == "__main__":
    token = os.environ.get("BILLING_TOKEN")
    if not token:
        sys.exit(
            "BILLING_TOKEN is not set: export the bearer token the plans send "
            "(Authorization: Bearer TOKEN)"
        )
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    create_app(token).run(host="127.0.0.1", port=port)
