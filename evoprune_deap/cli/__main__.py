"""``python -m evoprune_deap.cli``: the ``evoprune`` command."""

import sys

from . import main

sys.exit(main())
