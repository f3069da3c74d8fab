from twi_overlay.cli import main

raise SystemExit(main())
