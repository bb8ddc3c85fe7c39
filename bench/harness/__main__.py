"""python3 -m harness {plan|run} [options] — see bench/run.sh."""
import sys

from .main import main

sys.exit(main())
