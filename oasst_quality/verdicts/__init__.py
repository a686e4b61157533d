"""Verdicts: which annotators and which preference pairs to distrust, each with its rule, its evidence and n."""
