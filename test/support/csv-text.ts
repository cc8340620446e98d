// Compressible test bytes: CSV-like rows from a seeded PRNG (deflate takes them to about a third).

/** `bytes` bytes of CSV-like text; the same seed gives the same bytes. */
export function csvText(bytes: number, seed = 1): Buffer {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const rows = ['id,date,station,temperature_c,count,flag\n'];
  let length = rows[0]!.length;
  for (let id = 1; length < bytes; id++) {
    const row = `${id},2023-${10 + Math.floor(next() * 3)}-${10 + Math.floor(next() * 19)},${STATIONS[Math.floor(next() * STATIONS.length)]},${(next() * 50 - 15).toFixed(1)},${Math.floor(next() * 5000)},${next() < 0.95 ? 'ok' : 'suspect'}\n`;
    rows.push(row);
    length += row.length;
  }
  return Buffer.from(rows.join(''), 'latin1').subarray(0, bytes);
}

const STATIONS = ['BERLIN-TEGEL', 'OSLO-BLINDERN', 'LYON-BRON', 'NAIROBI-JKIA', 'LIMA-CALLAO', 'PERTH-AIRPORT'];
