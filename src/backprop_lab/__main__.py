"""``python -m backprop_lab`` runs the command line."""

from .cli import main

raise SystemExit(main())
