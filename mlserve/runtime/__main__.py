"""`python -m mlserve.runtime --spec cortex.yaml --api NAME`: serve one API."""

from mlserve.runtime.server import main

raise SystemExit(main())
