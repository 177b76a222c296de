"""Kubernetes name syntax, in one place: label keys and values, DNS-1123 subdomains.

apimachinery's validation (`IsQualifiedName`, `IsValidLabelValue`,
`IsDNS1123Subdomain`) decides what a label key, a label value, an extended
resource name or a resource group may look like. Selectors, pod parsing and the
resource policies all ask the same questions, so they all ask here.
"""

from __future__ import annotations

import re

MAX_NAME_PART = 63  # the name part of a qualified name, and a label value
MAX_SUBDOMAIN = 253  # a DNS-1123 subdomain (and the prefix of a qualified name)

# The name part: alphanumeric at both ends, '-', '_' and '.' inside.
NAME_PART = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS1123_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL}(?:\.{_DNS1123_LABEL})*")


def is_dns1123_subdomain(value: str) -> bool:
    """Lowercase alphanumerics, '-' and '.', at most 253 characters."""
    return len(value) <= MAX_SUBDOMAIN and DNS1123_SUBDOMAIN.fullmatch(value) is not None


def is_name_part(value: str) -> bool:
    """The part after the '/' of a qualified name: 1-63 characters of NAME_PART."""
    return 0 < len(value) <= MAX_NAME_PART and NAME_PART.fullmatch(value) is not None


def is_qualified_name(value: str) -> bool:
    """`IsQualifiedName`: an optional DNS-1123 subdomain prefix and '/', then a name part."""
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or not is_dns1123_subdomain(prefix)):
        return False
    return is_name_part(name)


def is_label_value(value: str) -> bool:
    """`IsValidLabelValue`: empty, or a name part."""
    return not value or is_name_part(value)
