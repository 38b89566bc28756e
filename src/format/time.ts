/**
 * cctrl prints alert times as Java's `yyyy/MM/dd hh:mm:ss a z` in the local time zone, e.g.
 * `2013/05/03 09:11:10 PM BST`. Intl names zones per locale: en-US knows `EST` but says `GMT+1` for
 * London, en-GB the reverse, so we take the first locale that gives a real abbreviation.
 * Intl formatters are costly to build, so they are made once per zone; the local zone and UTC
 * use Date's own fields, and a zone's abbreviation is looked up once per UTC offset.
 */
export function formatAlertTime(iso: string, timeZone?: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return 'UNKNOWN TIME';
  const fields = timeZone === undefined ? localFields(date) : isUtc(timeZone) ? utcFields(date) : zoneFields(date, timeZone);
  const hour12 = fields.hour % 12 === 0 ? 12 : fields.hour % 12;
  return (
    `${fields.year}/${pad(fields.month)}/${pad(fields.day)} ` +
    `${pad(hour12)}:${pad(fields.minute)}:${pad(fields.second)} ${fields.hour < 12 ? 'AM' : 'PM'} ${fields.zone}`
  );
}

interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  zone: string;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function isUtc(timeZone: string): boolean {
  return /^(utc|etc\/utc|gmt|etc\/gmt|z|zulu)$/i.test(timeZone);
}

function utcFields(d: Date): Fields {
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    zone: 'UTC',
  };
}

function localFields(d: Date): Fields {
  return {
    year: d.getFullYear(),
    month: d.getMonth() + 1,
    day: d.getDate(),
    hour: d.getHours(),
    minute: d.getMinutes(),
    second: d.getSeconds(),
    zone: zoneAbbreviation(d, undefined, -d.getTimezoneOffset()),
  };
}

const partFormatters = new Map<string, Intl.DateTimeFormat>();

function zoneFields(d: Date, timeZone: string): Fields {
  let f = partFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
    partFormatters.set(timeZone, f);
  }
  const value: Record<string, number> = {};
  for (const p of f.formatToParts(d)) if (p.type !== 'literal') value[p.type] = Number(p.value);
  const fields = {
    year: value['year']!,
    month: value['month']!,
    day: value['day']!,
    hour: value['hour']! % 24,
    minute: value['minute']!,
    second: value['second']!,
  };
  const asUtc = Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour, fields.minute, fields.second);
  const offsetMinutes = Math.round((asUtc - Math.floor(d.getTime() / 1000) * 1000) / 60_000);
  return { ...fields, zone: zoneAbbreviation(d, timeZone, offsetMinutes) };
}

const abbreviations = new Map<string, string>();

function zoneAbbreviation(date: Date, timeZone: string | undefined, offsetMinutes: number): string {
  const key = `${timeZone ?? ''}|${offsetMinutes}`;
  const cached = abbreviations.get(key);
  if (cached !== undefined) return cached;
  let found = '';
  for (const locale of ['en-US', 'en-GB']) {
    const name =
      new Intl.DateTimeFormat(locale, { timeZone, timeZoneName: 'short' })
        .formatToParts(date)
        .find((p) => p.type === 'timeZoneName')?.value ?? '';
    if (!/^GMT[+-]/.test(name)) {
      found = name;
      break;
    }
    found ||= name;
  }
  abbreviations.set(key, found);
  return found;
}
