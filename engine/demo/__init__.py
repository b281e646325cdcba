"""``muster demo``: the whole product on one laptop (:mod:`engine.demo.main` runs the steps).

Where it sits: an entry point's helper, called by :mod:`engine.cli.main`.
"""
