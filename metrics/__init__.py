"""Prometheus collectors, the Grafana dashboard and the alert rules."""
