"""Applications built on nodebase's modules (enabled with the ``apps`` setting)."""
