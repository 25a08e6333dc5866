"""The demo data of `make run`, one module per area, each written through the portal's own services."""
