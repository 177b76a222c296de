"""Built-in policy plugins; each registers under the `podsift.policies` entry-point group."""
