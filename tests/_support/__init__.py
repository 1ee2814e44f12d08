"""Helpers shared by the test modules: factories, a toy project, git, processes, servers.

A test module imports its helpers from here, never from another test module, so that each
test module can be read, run and changed on its own (`tests/test_layout_rules.py` checks it).
"""
