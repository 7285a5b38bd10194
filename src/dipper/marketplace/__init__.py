"""Credit platform: partners and scenes connect by API, banks publish products, applications are routed to banks, checkout installments and signed webhooks."""
