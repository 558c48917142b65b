"""``python -m powertrain`` runs the CLI."""

import sys

from powertrain.cli import main

sys.exit(main())
