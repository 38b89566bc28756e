/**
 * cctrl prints alert times as Java's `yyyy/MM/dd hh:mm:ss a z` in the local time zone, e.g.
 * `2013/05/03 09:11:10 PM BST`. Intl names zones per locale: en-US knows `EST` but says `GMT+1` for
 * London, en-GB the reverse, so we take the first locale that gives a real abbreviation.
 */
export function formatAlertTime(iso: string, timeZone?: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return 'UNKNOWN TIME';
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: true,
  }).formatToParts(date);
  const get = (type: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === type)?.value ?? '';
  const hour = get('hour') === '00' ? '12' : get('hour');
  return `${get('year')}/${get('month')}/${get('day')} ${hour}:${get('minute')}:${get('second')} ${get('dayPeriod').toUpperCase()} ${zoneAbbreviation(date, timeZone)}`;
}

function zoneAbbreviation(date: Date, timeZone?: string): string {
  let fallback = '';
  for (const locale of ['en-US', 'en-GB']) {
    const name =
      new Intl.DateTimeFormat(locale, { timeZone, timeZoneName: 'short' })
        .formatToParts(date)
        .find((p) => p.type === 'timeZoneName')?.value ?? '';
    if (!/^GMT[+-]/.test(name)) return name;
    fallback ||= name;
  }
  return fallback;
}
