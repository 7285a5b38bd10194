"""Reference data from maintained third-party packages, shaped as kernel value objects.

The kernel stays standard-library only; this layer sits right above it and is the one place
that imports packages such as ``chinese_calendar``, so a data source can be swapped or pinned
without touching business code.
"""

from dipper.reference.calendars import china_mainland

__all__ = ["china_mainland"]
