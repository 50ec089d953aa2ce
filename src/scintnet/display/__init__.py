"""Interactive HTML: the event display and the HTML report (self-contained pages, no network at view time)."""
