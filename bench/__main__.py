"""`python -m bench`: every benchmark beside bare Temporal (bench/suite.py)."""

import sys

from bench.suite import main

sys.exit(main())
