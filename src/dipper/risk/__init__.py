"""Risk.

Features, rule strategies (decision tables), scorecards and boosted trees, reason codes, pricing and
limits, fraud graphs, the alliance blacklist, joint modeling and monitoring.
"""
