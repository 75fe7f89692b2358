"""The one place that wires data, degradations, networks and losses into a training run."""
