"""Which time zone the pages show times in, and how a time is written.

The signed-in admin picks a zone on the events page; the choice is kept in a cookie
(the admin accounts have no column for it, and a browser-side choice needs no schema
change).  Without a choice, or with one this system does not know, the pages use the
site's zone (:attr:`tocsin.services.sites.SitesService.site_zone`).  Every page that
shows times names the zone next to them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from fastapi import Request, Response

from tocsin.http import services_of
from tocsin.services.site_zone import valid_zone

__all__ = ["ZONE_COOKIE", "page_zone", "remember_zone", "when"]

ZONE_COOKIE: Final = "tocsin_tz"


def page_zone(request: Request) -> str:
    """The zone the admin chose (cookie), else the site's zone."""
    chosen = request.cookies.get(ZONE_COOKIE, "")
    return chosen if valid_zone(chosen) else services_of(request).sites.site_zone


def remember_zone(request: Request, response: Response, zone: str) -> None:
    """Keep ``zone`` (already validated) as the admin's choice for a year."""
    response.set_cookie(
        ZONE_COOKIE,
        zone,
        max_age=365 * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def when(timestamp: float | None, zone: str, *, short: bool = False) -> str:
    """``timestamp`` as ``YYYY-MM-DD HH:MM:SS`` in ``zone`` (named by the page, not here).

    ``short`` leaves out the date when it is today (in that zone).  Empty for None.
    """
    if timestamp is None:
        return ""
    where = ZoneInfo(zone)
    moment = datetime.fromtimestamp(timestamp, where)
    if short and moment.date() == datetime.now(where).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M:%S")
