"""Background work: a small host (``host.py``) running jobs side by side in one process, and the
jobs that belong to no sender: the session sweep, housekeeping and the heartbeat.  ``worker.py``
puts them together with the deliveries (``delivery/``)."""
