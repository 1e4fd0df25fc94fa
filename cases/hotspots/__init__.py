"""
Hotspot analysis (分析研判): spatial statistics on grid cells.

The statistics live in ``cases.hotspots.stats`` as pure functions on arrays and
libpysal graphs. Nothing is re-exported here so that importing the ``cases`` app
does not pull in esda and scipy.
"""
