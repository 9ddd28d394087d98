"""`python -m wallet_api` runs the command line."""

from wallet_api.cli import main

raise SystemExit(main())
