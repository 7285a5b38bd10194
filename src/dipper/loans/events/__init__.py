"""loans.events"""
