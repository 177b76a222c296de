"""The plugin framework: the policy interface, the registry, the checks of plugin answers.

Plugin authors reach it through `extender.api`, never directly."""
