"""The general ledger: chart of accounts, immutable balanced journal entries, balances, trial balance.

Other modules use only ``commands``, ``events`` and ``queries`` (account codes live in ``queries``).
"""
