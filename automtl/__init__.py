"""automtl."""
