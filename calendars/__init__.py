"""Working calendars, loaded from their published sources into `domain.working_calendar`."""
