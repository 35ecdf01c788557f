"""`python -m linkdesk.bridge.cli`: the `linkdesk` command."""

import sys

from linkdesk.bridge.cli.main import main

sys.exit(main())
