"""The Locust load test (run by `nox -s load`; `nox -s tests` ignores this directory)."""
