"""The browser tests need the playwright package (`make test-console` installs it)."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("playwright") else ["test_*.py"]
