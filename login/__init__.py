"""The login flow's domain: statuses, session views, errors, the flow's service, QR codes, user agents.

It knows nothing of HTTP; ``handlers`` speaks HTTP on its behalf.
"""
