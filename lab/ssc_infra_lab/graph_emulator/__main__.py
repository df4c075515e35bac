"""`python -m ssc_infra_lab.graph_emulator --dir D [--address A] [--port P] [--tenant T=d1,d2]`."""

from ssc_infra_lab.graph_emulator.cli import main

raise SystemExit(main())
