"""The cluster cache: node table, label index, pod records, and the views policies read."""
