"""`python -m demo.billing [PORT]`: the demo billing service on its own."""

import sys

from demo.billing.app import create_app

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    create_app().run(host="127.0.0.1", port=port)
