"""Quantitative marketing.

Segments, response and uplift models, pre-approved whitelists and campaigns with control groups.
"""
