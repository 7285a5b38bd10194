"""Commands of the loan core (its public write surface), grouped by area."""
