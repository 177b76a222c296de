"""A live cluster: the API client, list+watch into the cache, binding through the API."""
