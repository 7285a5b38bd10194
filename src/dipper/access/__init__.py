"""Tenancy and access: banks, staff, roles, sessions, partner API keys, maker-checker."""
