"""ABS factory: pool selection, cash-flow projection, tranches, waterfalls and investor reports."""
