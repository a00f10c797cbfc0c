"""Look inside a trained network: activations, receptive fields, top patches, attribution,
patch swaps, and a live page to draw on and augment (``inkbench inspect``)."""
