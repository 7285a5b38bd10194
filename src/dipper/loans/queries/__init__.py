"""loans.queries"""
