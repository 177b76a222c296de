"""The engine: the policy configuration and the runner of filters and scores over a view."""
