"""ABS factory.

Pool selection, cash-flow projection, tranches, waterfalls and investor reports.
"""
