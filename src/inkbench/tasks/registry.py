"""The one registry every task kind registers into, keyed by ``task.name``."""

import lightning as L

from inkbench.registry import Registry

# A task class is its own builder: ``TASKS.get(name)(cfg, model)``.
TASKS: Registry[L.LightningModule] = Registry("task")
