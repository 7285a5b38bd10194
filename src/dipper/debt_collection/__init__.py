"""Risk operations: early warning, collection queues and strategies, promises to pay, roll rates, vintages and write-off."""
