"""Identity: the bank's customers (borrowers), their personal data encrypted at rest and masked on read.

Public surface: ``commands``, ``events``, ``queries``. See README.md.
"""
