"""`python -m ssc_infra_lab.hr_emulator`: the HR systems' emulator in the foreground."""

from ssc_infra_lab.hr_emulator.cli import main

raise SystemExit(main())
