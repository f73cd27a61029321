// Reads each .ics file named on the command line with Mozilla's ical.js (Thunderbird's parser) and prints
// what a calendar takes from it, as JSON: one object per file. A file ical.js cannot read fails the run.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const out = [];
for (const path of process.argv.slice(2)) {
  const root = new ICAL.Component(ICAL.parse(readFileSync(path, "utf8")));
  for (const zone of root.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(zone);
  }
  const vevent = root.getFirstSubcomponent("vevent");
  const event = new ICAL.Event(vevent);
  const organizer = vevent.getFirstProperty("organizer");
  out.push({
    method: root.getFirstPropertyValue("method"),
    version: root.getFirstPropertyValue("version"),
    uid: event.uid,
    sequence: event.sequence,
    dtstamp: vevent.getFirstPropertyValue("dtstamp").toJSDate().toISOString(),
    summary: event.summary,
    location: event.location,
    status: vevent.getFirstPropertyValue("status"),
    organizer: { value: organizer.getFirstValue(), cn: organizer.getParameter("cn") },
    attendees: vevent.getAllProperties("attendee").map((p) => ({
      value: p.getFirstValue(), cn: p.getParameter("cn"), partstat: p.getParameter("partstat"),
      rsvp: p.getParameter("rsvp"), role: p.getParameter("role"), cutype: p.getParameter("cutype"),
    })),
    tzid: vevent.getFirstProperty("dtstart").getParameter("tzid"),
    zone: event.startDate.zone ? event.startDate.zone.tzid : null,
    start_utc: event.startDate.toJSDate().toISOString(),
    end_utc: event.endDate.toJSDate().toISOString(),
    timezones: root.getAllSubcomponents("vtimezone").map((z) => z.getFirstPropertyValue("tzid")),
    zone_parts: root.getAllSubcomponents("vtimezone").flatMap(
      (z) => z.getAllSubcomponents().map((c) => c.name)),
  });
}
process.stdout.write(JSON.stringify(out));
