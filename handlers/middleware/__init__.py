"""What wraps every request, apart from the endpoints.

The client's IP behind proxies, security headers, the access log.
"""
