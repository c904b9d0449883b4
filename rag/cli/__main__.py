"""`python -m rag.cli`, as the `rag` script."""

import sys

from rag.cli import main

sys.exit(main())
