/**
 * The one piece of the MySQL protocol the connector speaks: refusing a connection. A MySQL client
 * waits for the server to speak first, so an ERR packet as the very first packet (sequence id 0)
 * is what a server sends when it will not take a connection ("Too many connections", "Host is
 * blocked"); mysql, mariadb, mysql2 and Connector/J print its code, SQLSTATE and message.
 *
 * ERR packet (protocol 4.1): 3-byte little-endian payload length, 1-byte sequence id, then
 * 0xFF, the error code (2 bytes LE), '#', the SQLSTATE (5 characters) and the message.
 *
 * Codes, by why the connector refuses (server-side codes, so clients classify them as such):
 * - 1053 ER_SERVER_SHUTDOWN, SQLSTATE 08S01: the connector is OFFLINE (no manager for too long) or
 *   stopping. Nothing is behind it that it may send you to.
 * - 1040 ER_CON_COUNT_ERROR, SQLSTATE 08004: you waited for the whole hold timeout (a switch still
 *   holding, no manager, no master) or too many clients wait already. Retry shortly.
 * - 2003 (CR_CONN_HOST_ERROR's number), SQLSTATE HY000: the server the routes name did not take the
 *   TCP connection, as the application would have seen connecting to it directly.
 */
export const REFUSALS = {
  offline: { code: 1053, sqlState: '08S01' },
  stopping: { code: 1053, sqlState: '08S01' },
  waitedTooLong: { code: 1040, sqlState: '08004' },
  tooManyWaiting: { code: 1040, sqlState: '08004' },
  backendUnreachable: { code: 2003, sqlState: 'HY000' },
} as const;

export type RefusalKind = keyof typeof REFUSALS;

/** Clients keep at most 512 bytes of a message (MYSQL_ERRMSG_SIZE); longer ones are cut there. */
const MAX_MESSAGE_BYTES = 500;

export function errPacket(code: number, sqlState: string, message: string, sequenceId = 0): Buffer {
  if (!/^[0-9A-Z]{5}$/.test(sqlState)) throw new Error(`SQLSTATE must be 5 characters, not '${sqlState}'`);
  let text = Buffer.from(message, 'utf8');
  if (text.length > MAX_MESSAGE_BYTES) {
    // Cut on a character boundary: drop continuation bytes (10xxxxxx) at the cut.
    let end = MAX_MESSAGE_BYTES;
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
    text = text.subarray(0, end);
  }
  const length = 1 + 2 + 1 + 5 + text.length;
  const packet = Buffer.allocUnsafe(4 + length);
  packet.writeUIntLE(length, 0, 3);
  packet.writeUInt8(sequenceId & 0xff, 3);
  packet.writeUInt8(0xff, 4);
  packet.writeUInt16LE(code, 5);
  packet.write('#', 7, 'latin1');
  packet.write(sqlState, 8, 'latin1');
  text.copy(packet, 13);
  return packet;
}

export function refusalPacket(kind: RefusalKind, message: string): Buffer {
  const { code, sqlState } = REFUSALS[kind];
  return errPacket(code, sqlState, message);
}
