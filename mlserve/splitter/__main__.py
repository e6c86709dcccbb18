from mlserve.splitter.server import main

raise SystemExit(main())
