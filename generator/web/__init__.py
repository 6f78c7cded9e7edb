"""The booking handler: a sans-IO core and its WSGI and Lambda adapters."""
