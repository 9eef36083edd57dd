"""A minimal Django site using kernl_realtime from ordinary (synchronous) views."""
