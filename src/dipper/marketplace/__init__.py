"""Credit platform.

Partners and scenes connect by API, banks publish products, applications are routed to banks,
checkout installments and signed webhooks.
"""
