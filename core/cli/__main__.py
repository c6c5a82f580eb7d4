"""`python -m deformlearn.core.cli ...`: the command line, as the app's worker processes start it."""

import sys

from deformlearn.core.cli import main

sys.exit(main())
