"""Calendar v3 of the emulator: ``/calendar/v3/...`` routes and the event rules behind them.

Where it sits: Google-facing feature package loaded by ``app.py``. Routes: ``calendars.py`` (calendars,
calendarList), ``acl.py``, ``events.py`` (writes and get), ``eventlist.py`` (list, instances, watch),
``freebusy.py``, ``push.py`` (channels), ``settings.py`` (settings, colors), ``views.py`` (what a
reader is shown), ``quickadd.py`` (quickAdd text). Rules: ``common.py`` (endpoint wrapper, calendar
resolution), ``eventmodel.py`` (event shape, copies, read views), ``recurrence.py``, ``conference.py`` (Meet),
``rooms.py`` (resource auto-answers), ``busy.py`` (occupied time), ``sync.py`` (sync tokens),
``fields.py`` (partial responses).
"""
