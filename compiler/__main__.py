"""``python -m compiler``: the ``tracegrad`` command line (see ``compiler.cli``)."""

import sys

from compiler.cli import main

sys.exit(main())
