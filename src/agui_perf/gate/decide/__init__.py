"""Decide: the statistics, the comparison rule, the budgets and the verdict drawn from them."""
