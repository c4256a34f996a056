"""The automtl service: the REST API (:func:`api.main.create_app`), its settings, and the worker
that runs queued search jobs (:mod:`api.worker`)."""
