"""Ops console of the B2B new-car trading platform: services, gateway, auth, i18n."""
