"""``python -m benchmarks``: run every benchmark group (see :mod:`benchmarks.run`)."""

from .run import main

raise SystemExit(main())
