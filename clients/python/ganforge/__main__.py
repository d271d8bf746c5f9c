"""`python -m ganforge`: the command line."""

import sys

from ganforge.cli import main

sys.exit(main())
