"""Applications built on nodebase modules (only their public Python interfaces)."""
