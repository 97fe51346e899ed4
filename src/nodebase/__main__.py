from nodebase.cli import main

raise SystemExit(main())
