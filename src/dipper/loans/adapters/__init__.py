"""loans.adapters"""
