"""``python -m reference_service``: run the reference scoring service (see ``--help``)."""

from reference_service.server import main

raise SystemExit(main())
