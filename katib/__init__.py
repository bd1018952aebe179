"""Katib backend: Experiment manifests, webhook-equivalent validation, client, suggestion service."""
