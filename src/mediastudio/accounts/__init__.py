"""Accounts own everything: credits, keys, generations. Users log in to the dashboard."""
