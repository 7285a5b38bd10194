"""Pure lending rules: terms, schedules, APR, products, allocation, accrual (no framework)."""
