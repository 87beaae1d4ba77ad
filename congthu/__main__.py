from congthu.cli import main

raise SystemExit(main())
