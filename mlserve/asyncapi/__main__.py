from mlserve.asyncapi.launcher import main

raise SystemExit(main())
