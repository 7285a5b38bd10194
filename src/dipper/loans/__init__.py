"""Loan core.

Products, credit lines, loans, repayment schedules, accrual, repayment, penalty interest, the end-
of-day batch and APR disclosure. Owns every loan balance; posts through accounting.
"""
