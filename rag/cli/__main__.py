"""`python -m rag.cli`, as the `rag` script."""

import sys

from . import main

sys.exit(main())
