/**
 * Parses CSV as RFC 4180 writes it (records end in CRLF, or LF; a quoted field may hold commas,
 * line breaks and doubled quotes), strictly: a quote inside an unquoted field or text after a
 * closing quote throws, so a test sees a malformed export instead of reading it leniently.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  let wasQuoted = false;
  const endField = () => {
    row.push(field);
    field = "";
    wasQuoted = false;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        wasQuoted = true;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"') {
      if (field !== "" || wasQuoted) throw new Error(`CSV: a quote inside an unquoted field at ${i}`);
      quoted = true;
      i++;
    } else if (c === ",") {
      endField();
      i++;
    } else if (c === "\r" && text[i + 1] === "\n") {
      endField();
      rows.push(row);
      row = [];
      i += 2;
    } else if (c === "\n") {
      endField();
      rows.push(row);
      row = [];
      i++;
    } else {
      if (wasQuoted) throw new Error(`CSV: text after a closing quote at ${i}`);
      field += c;
      i++;
    }
  }
  if (quoted) throw new Error("CSV: an unterminated quoted field");
  if (field !== "" || wasQuoted || row.length > 0) {
    endField();
    rows.push(row);
  }
  return rows;
}
