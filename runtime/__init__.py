"""Running the service: settings, the composition root, processes, metrics, shutdown."""
