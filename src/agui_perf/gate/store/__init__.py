"""Store: the results and baseline files, the environment fingerprint, the configuration and
layout, and the baseline's history in git."""
