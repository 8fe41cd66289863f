"""`python -m compat_nb.local`: run the bundled server in the foreground until Ctrl-C."""

import sys

from . import main

sys.exit(main())
