"""``python -m inkbench.cli``: the ``inkbench`` command without its console script (Lightning's
ddp launcher re-runs the command it was started with, once per further device)."""

from inkbench.cli import main

raise SystemExit(main())
