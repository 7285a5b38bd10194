"""Risk operations.

Early warning, collection queues and strategies, promises to pay, roll rates, vintages and write-
off.
"""
