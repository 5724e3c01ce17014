"""SQL per domain. Every read applies the visibility rule of hub.access in SQL."""
