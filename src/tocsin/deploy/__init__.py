"""Running Tocsin as a service: the systemd unit, its notifications, and the logs."""
