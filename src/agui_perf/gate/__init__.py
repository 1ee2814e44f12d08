"""The performance gate: results, baselines, statistics, budgets, verdict and report."""
