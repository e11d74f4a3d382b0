import fsp from "node:fs/promises";
import readline from "node:readline";
import { InterruptedError, UsageError } from "./exit-codes.js";
import { formatBytes, isTty, type InStream, type Io } from "./output.js";

/** `CI` set (and not `false`/`0`): a pipeline, where nobody can answer a question. */
export function inCi(io: Io): boolean {
  const ci = io.env.CI;
  return ci !== undefined && ci !== "" && !["false", "0"].includes(ci.toLowerCase());
}

/**
 * True when we may ask questions: stdin and stderr (where prompts go) are terminals, and this is
 * not CI (a CI runner may hand a job a pseudo-terminal that nobody types into).
 */
export function canPrompt(io: Io): boolean {
  return isTty(io.stdin) && isTty(io.stderr) && !inCi(io);
}

/** Asks one line on the terminal (the answer is echoed). */
export async function ask(io: Io, question: string, def?: string): Promise<string> {
  const stdin = requireStdin(io);
  const rl = readline.createInterface({ input: stdin, output: io.stderr as NodeJS.WritableStream, terminal: true });
  let answered = false;
  try {
    const answer = await new Promise<string>((resolve, reject) => {
      rl.once("SIGINT", () => reject(new InterruptedError()));
      // Ctrl-D (or stdin ending) closes the interface before an answer: that is a "no answer".
      rl.once("close", () => answered || reject(new InterruptedError()));
      rl.question(def ? `${question} (${def}): ` : `${question}: `, (a) => {
        answered = true;
        resolve(a);
      });
    });
    return answer.trim() || def || "";
  } finally {
    // Never remove readline's own "close" listeners: one of them detaches its keypress handler
    // from stdin. Without it every later prompt echoed each key once more, the hidden password
    // included.
    answered = true;
    rl.close();
  }
}

/** Asks for a secret on the terminal without echoing it. Ctrl-C interrupts, Ctrl-D ends. */
export async function askHidden(io: Io, question: string): Promise<string> {
  const stdin = requireStdin(io);
  // Echo off before the prompt shows: a person (or a script) who types as soon as it appears
  // must not see the secret echoed, as happened when the prompt came first.
  const wasRaw = (stdin as { isRaw?: boolean }).isRaw === true;
  stdin.setRawMode?.(true);
  io.stderr.write(`${question}: `);
  stdin.resume();
  stdin.setEncoding("utf8");
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = "";
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === "\r" || ch === "\n" || ch === "\u0004") {
            done();
            return resolve(value);
          }
          if (ch === "\u0003") {
            done();
            return reject(new InterruptedError());
          }
          if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
          else if (ch === "\u0015")
            value = ""; // Ctrl-U
          else if (ch >= " ") value += ch;
        }
      };
      const onEnd = () => {
        done();
        resolve(value);
      };
      const done = () => {
        stdin.off("data", onData);
        stdin.off("end", onEnd);
      };
      stdin.on("data", onData);
      stdin.on("end", onEnd);
    });
  } finally {
    stdin.setRawMode?.(wasRaw);
    stdin.pause();
    io.stderr.write("\n");
  }
}

/** y/N on the terminal; anything but y/yes is no. */
export async function confirm(io: Io, question: string): Promise<boolean> {
  const a = await ask(io, `${question} [y/N]`);
  return /^y(es)?$/i.test(a);
}

/** All of stdin as text (for --password-stdin / --with-token), without its trailing newline. */
export async function readStdinText(io: Io, what: string, limit = 64 * 1024): Promise<string> {
  const stdin = requireStdin(io);
  if (isTty(stdin)) throw new UsageError(`${what}: stdin is a terminal; pipe the value in, e.g. \`cat file | sf …\``);
  let text = "";
  for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
    text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    if (text.length > limit) throw new UsageError(`${what}: stdin is longer than ${formatBytes(limit)}`);
  }
  return text.replace(/\r?\n$/, "");
}

/**
 * The first line of a file, without its line ending (for --passphrase-file, when stdin already
 * carries another secret). An empty first line is refused: it is never what was meant.
 */
export async function readFirstLine(file: string, flag: string, limit = 64 * 1024): Promise<string> {
  let text: string;
  try {
    const handle = await fsp.open(file, "r");
    try {
      const buf = Buffer.alloc(limit + 1);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      text = buf.subarray(0, bytesRead).toString("utf8");
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const line = /^[^\r\n]*/.exec(text)![0];
  if (line.length > limit) throw new UsageError(`${flag}: the first line of ${file} is longer than ${formatBytes(limit)}`);
  if (line === "") throw new UsageError(`${flag}: the first line of ${file} is empty`);
  return line;
}

function requireStdin(io: Io): InStream {
  if (!io.stdin) throw new UsageError("this command needs stdin");
  return io.stdin;
}
