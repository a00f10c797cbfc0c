"""Look inside a trained network: activations, receptive fields, top patches, attribution,
patch swaps (``inkbench inspect``)."""
