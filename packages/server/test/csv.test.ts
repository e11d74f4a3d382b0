import { describe, expect, it } from "vitest";
import { parseCsv } from "@speedyfiles/test-utils/csv";
import { csvCell, csvRow } from "../src/util/csv.js";

describe("CSV cells (RFC 4180, spreadsheet formulas defused)", () => {
  it("quotes what needs it, doubles quotes, leaves the rest as it is", () => {
    expect(csvCell("plain")).toBe("plain");
    expect(csvCell(null)).toBe("");
    expect(csvCell(undefined)).toBe("");
    expect(csvCell(42)).toBe("42");
    expect(csvCell("a,b")).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell("two\nlines")).toBe('"two\nlines"');
    expect(csvCell("cr\rhere")).toBe('"cr\rhere"');
    expect(csvCell('{"a":1}')).toBe('"{""a"":1}"');
  });

  it("gives a leading ' to cells a spreadsheet would run as a formula: = + - @ tab CR", () => {
    expect(csvCell("=1+2")).toBe("'=1+2");
    expect(csvCell("+1")).toBe("'+1");
    expect(csvCell("-1")).toBe("'-1");
    expect(csvCell("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvCell("\tx")).toBe("'\tx");
    expect(csvCell("\rx")).toBe('"\'\rx"');
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"');
    expect(csvCell("a=b")).toBe("a=b");
  });

  it("rows end in CRLF and parse back to their cells", () => {
    const cells = ["1", "=cmd|' /C calc'!A0", 'x,"y"', "multi\r\nline", null, "-"];
    const row = csvRow(cells);
    expect(row.endsWith("\r\n")).toBe(true);
    expect(parseCsv(row)).toEqual([["1", "'=cmd|' /C calc'!A0", 'x,"y"', "multi\r\nline", "", "'-"]]);
  });
});
