"""`python -m cdp_sandbox` is `cdp-sandbox`."""

import sys

from cdp_sandbox.cli import main

sys.exit(main())
